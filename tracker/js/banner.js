// Spur's default in-app message, loaded only when the edge returns a message and the page
// registered no `spur.on("message", fn)` handler (which replaces it).
// The default in-app message: a dismissable bar at the bottom. Text only (textContent),
// so a message can never inject markup; its link (absolute or relative to the page) opens
// only http(s) URLs.
export function banner(m) {
  const el = (tag, text, css) => {
    const e = document.createElement(tag);
    e.textContent = text || "";
    e.style.cssText = css || "";
    return e;
  };
  const bar = el(
    "div",
    "",
    "position:fixed;left:16px;right:16px;bottom:16px;z-index:2147483647;max-width:480px;margin:auto;padding:12px 40px 12px 16px;border-radius:8px;background:#1f2937;color:#fff;font:14px/1.4 system-ui,sans-serif;box-shadow:0 4px 16px rgba(0,0,0,.3)",
  );
  bar.setAttribute("role", "status");
  bar.dataset.spurMessage = m.id || "";
  bar.append(el("strong", m.title, "display:block"), el("span", m.body));
  let url;
  try {
    url = m.url && new URL(m.url, location.href);
  } catch {}
  if (url && /^https?:$/.test(url.protocol)) {
    const a = el("a", "Open", "color:#93c5fd;margin-left:8px");
    a.href = url.href;
    bar.append(a);
  }
  const x = el(
    "button",
    "×",
    "position:absolute;top:6px;right:8px;border:0;background:none;color:inherit;font-size:20px;cursor:pointer",
  );
  x.setAttribute("aria-label", "Dismiss");
  x.onclick = () => bar.remove();
  bar.append(x);
  document.body.append(bar);
}
