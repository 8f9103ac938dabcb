// What each crate adds to a wasm module's code: function bodies attributed to their crate by the
// name section (legacy and v0 mangling), and the crates grouped as bench/edge.mjs's size table
// shows them. Reads the binary format directly (sections, LEB128), no dependency.
import { readFileSync, readdirSync, existsSync } from "node:fs";

/** The first .wasm under `dir` (a Worker's dist/), or null. */
export function wasmIn(dir) {
  if (!existsSync(dir)) return null;
  const f = readdirSync(dir, { recursive: true })
    .map(String)
    .find((p) => p.endsWith(".wasm"));
  return f ? readFileSync(`${dir}/${f}`) : null;
}

/** Code bytes per crate from a wasm's name section (the pre-wasm-opt build keeps names). */
export function crateSizes(buf) {
  let p = 8;
  const u32 = () => {
    let r = 0,
      s = 0,
      b;
    do {
      b = buf[p++];
      r |= (b & 0x7f) << s;
      s += 7;
    } while (b & 0x80);
    return r >>> 0;
  };
  let imported = 0;
  const bodies = [];
  const names = new Map();
  let data = 0;
  while (p < buf.length) {
    const id = buf[p++];
    const len = u32();
    const start = p;
    if (id === 2) {
      // imports: count the functions
      const n = u32();
      for (let i = 0; i < n; i++) {
        const m = u32();
        p += m;
        const f = u32();
        p += f;
        const kind = buf[p++];
        if (kind === 0) {
          u32();
          imported++;
        } else if (kind === 1) {
          p++;
          const fl = u32();
          u32();
          if (fl & 1) u32();
        } else if (kind === 2) {
          const fl = u32();
          u32();
          if (fl & 1) u32();
        } else if (kind === 3) {
          p += 2;
        } else {
          p++;
          u32();
        }
      }
    } else if (id === 10) {
      const n = u32();
      for (let i = 0; i < n; i++) {
        const sz = u32();
        bodies.push(sz);
        p += sz;
      }
    } else if (id === 11) {
      data = len;
    } else if (id === 0) {
      const nl = u32();
      const name = buf.toString("utf8", p, p + nl);
      p += nl;
      if (name === "name") {
        while (p < start + len) {
          const sub = buf[p++];
          const sl = u32();
          const ss = p;
          if (sub === 1) {
            const n = u32();
            for (let i = 0; i < n; i++) {
              const idx = u32();
              const l = u32();
              names.set(idx, buf.toString("utf8", p, p + l));
              p += l;
            }
          }
          p = ss + sl;
        }
      }
    }
    p = start + len;
  }
  const by = new Map();
  bodies.forEach((sz, i) => {
    const c = crateOf(names.get(i + imported) ?? "");
    by.set(c, (by.get(c) ?? 0) + sz);
  });
  return { by, code: bodies.reduce((a, b) => a + b, 0), data, named: names.size };
}

function crateOf(name) {
  let s = name;
  const m = s.match(/^_ZN(?:\d+_\$LT\$)?(\d+)(\w+)/);
  if (m) {
    // Legacy mangling: length-prefixed idents; `_$LT$` opens a `<T as Trait>` path.
    const body = s.slice(3);
    const lt = body.match(
      /^\d+_\$LT\$((?:\$RF\$|\$BP\$|\$LT\$|mut\$u20\$|dyn\$u20\$|const\$u20\$)*)([A-Za-z_][A-Za-z0-9_]*)/,
    );
    if (lt) return lt[2];
    const id = body.match(/^(\d+)/);
    if (id) return body.slice(id[1].length, id[1].length + Number(id[1]));
  }
  // v0 mangling (nightly's default; scripts/build-edge's release build): the first crate root
  // `C[s<disambiguator>_]<len><ident>` names the outermost path's crate.
  const v0 = s.startsWith("_R") ? s.match(/C(?:s[0-9A-Za-z]*_)?(\d+)_?/) : null;
  if (v0) {
    const i = v0.index + v0[0].length;
    return s.slice(i, i + Number(v0[1]));
  }
  s = s.replace(/^<+/, "").replace(/^(impl |dyn |&mut |&)/, "");
  const colon = s.indexOf("::");
  if (colon > 0) return s.slice(0, colon);
  return "(unnamed: wasm-bindgen glue, compiler intrinsics)";
}

const GROUPS = [
  ["spur_core", "spur-core (Spur's own core)"],
  ["spur_edge", "spur-edge (Spur's Worker glue)"],
  ["boon", "boon (JSON Schema)"],
  ["datalogic_rs", "datalogic-rs (JSONLogic)"],
  ["datavalue_rs", "datalogic-rs (JSONLogic)"],
  ["fast_float2", "datalogic-rs (JSONLogic)"],
  ["serde_json", "serde + serde_json"],
  ["serde", "serde + serde_json"],
  ["serde_core", "serde + serde_json"],
  ["ryu", "serde + serde_json"],
  ["itoa", "serde + serde_json"],
  ["serde_wasm_bindgen", "worker + wasm-bindgen + js-sys/web-sys"],
  ["miniz_oxide", "flate2 (miniz_oxide)"],
  ["flate2", "flate2 (miniz_oxide)"],
  ["regex", "regex"],
  ["regex_automata", "regex"],
  ["regex_syntax", "regex"],
  ["aho_corasick", "regex"],
  ["memchr", "regex"],
  ["fancy_regex", "regex"],
  ["url", "url + idna"],
  ["idna", "url + idna"],
  ["icu_normalizer", "url + idna"],
  ["icu_collections", "url + idna"],
  ["icu_properties", "url + idna"],
  ["time", "time"],
  ["chrono", "chrono (datalogic datetime)"],
  ["hashbrown", "std + alloc + core"],
  ["std", "std + alloc + core"],
  ["core", "std + alloc + core"],
  ["alloc", "std + alloc + core"],
  ["dlmalloc", "std + alloc + core"],
  ["compiler_builtins", "std + alloc + core"],
  ["worker", "worker + wasm-bindgen + js-sys/web-sys"],
  ["worker_sys", "worker + wasm-bindgen + js-sys/web-sys"],
  ["wasm_bindgen", "worker + wasm-bindgen + js-sys/web-sys"],
  ["js_sys", "worker + wasm-bindgen + js-sys/web-sys"],
  ["web_sys", "worker + wasm-bindgen + js-sys/web-sys"],
  ["wasm_bindgen_futures", "worker + wasm-bindgen + js-sys/web-sys"],
  ["futures_util", "worker + wasm-bindgen + js-sys/web-sys"],
  ["wasm_streams", "worker + wasm-bindgen + js-sys/web-sys"],
  ["sha2", "hmac + sha2"],
  ["hmac", "hmac + sha2"],
  ["base64", "base64"],
  ["minijinja", "minijinja (email templates)"],
  ["regex_lite", "regex-lite (tracking-plan `pattern`)"],
  ["p256", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["elliptic_curve", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["primeorder", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["crypto_bigint", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["ecdsa", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["aes_gcm", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["aes", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["ghash", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["polyval", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["ctr", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["hkdf", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["subtle", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["ff", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["group", "Web Push crypto (p256, aes-gcm, hkdf)"],
  ["fluent_uri", "boon (JSON Schema)"],
  ["ahash", "boon (JSON Schema)"],
  ["bumpalo", "datalogic-rs (JSONLogic)"],
  ["smallvec", "datalogic-rs (JSONLogic)"],
];
export const group = (c) => GROUPS.find(([k]) => k === c)?.[1] ?? (c.startsWith("(") ? c : "other crates");
