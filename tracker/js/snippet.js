/* Spur snippet: paste into <head>. Defines window.spur as a queue of calls, then loads the
   tracker module without blocking rendering. Change the config object; keep the rest. */
(function (w, d, src, config) {
  var spur = (w.spur = w.spur || []);
  if (spur.config) return;
  spur.config = config;
  "track page identify alias group reset flush optIn optOut on debug".split(" ").forEach(function (m) {
    spur[m] = function () {
      spur.push([m].concat([].slice.call(arguments)));
      return spur;
    };
  });
  var s = d.createElement("script");
  s.type = "module";
  s.async = true;
  s.src = src;
  d.head.appendChild(s);
})(window, document, "/tracker/spur.js", {
  endpoint: "", // "" = same origin; else e.g. "https://spur.example.com"
  writeKey: "YOUR_WRITE_KEY", // options: consent ("granted"|"pending"|"denied"), cookieless,
  // pageviews, clicks, tags, gpc, dnt, banner (see spur.d.ts)
});
