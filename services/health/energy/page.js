// The energy part of the status page: drawn from the JSON API (/api/energy/...), redrawn in
// place every 30 s (no reload, no flicker).  Self-contained: no library, no external file.
// In <head>, run once the page is parsed: its words are not part of the page's text.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const $ = (id) => document.getElementById(id);
  const NS = "http://www.w3.org/2000/svg";
  const fmt = (v, d) => (v === null || v === undefined ? "—" : v.toFixed(d));
  let shown = location.hash.slice(1) || "";
  let building = "";
  let allFiles = false;

  async function get(path) {
    const r = await fetch(path, { cache: "no-store" });
    if (!r.ok) throw new Error(path + ": " + r.status);
    return r.json();
  }

  function el(name, attrs, text) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Bought upward, sold downward, a gap as a grey tick on the zero line.
  function bars(svg, items, labelEvery) {
    const W = Math.max(300, svg.parentNode.clientWidth || 720), H = 200, L = 44, B = 20, T = 8;
    const up = Math.max(0.001, ...items.map((i) => i.imp || 0));
    const down = Math.max(...items.map((i) => i.exp || 0), 0);
    const span = up + down, plot = H - T - B;
    const zero = T + plot * (up / span);
    const w = (W - L - 4) / items.length;
    const g = el("g", {});
    g.appendChild(el("line", { x1: L, x2: W - 4, y1: zero, y2: zero, stroke: "#888" }));
    g.appendChild(el("text", { x: L - 4, y: T + 10, "text-anchor": "end", class: "ax" }, up.toFixed(up < 10 ? 2 : 0)));
    g.appendChild(el("text", { x: L - 4, y: zero + 4, "text-anchor": "end", class: "ax" }, "kWh"));
    if (down > 0) g.appendChild(el("text", { x: L - 4, y: H - B, "text-anchor": "end", class: "ax" }, "-" + down.toFixed(down < 10 ? 2 : 0)));
    items.forEach((it, n) => {
      const x = L + n * w + w * 0.1, bw = Math.max(1, w * 0.8);
      if (n % labelEvery === 0) g.appendChild(el("text", { x: x + bw / 2, y: H - 4, "text-anchor": "middle", class: "ax" }, it.label));
      if (it.future) return;
      if (it.imp === null && it.exp === null) {
        const r = el("rect", { x: x, y: zero - 3, width: bw, height: 6, class: "gap", "data-i": n });
        r.appendChild(el("title", {}, it.title + " データなし / no data"));
        g.appendChild(r);
        return;
      }
      for (const [key, sign] of [["imp", -1], ["exp", 1]]) {
        const v = it[key];
        if (v === null || v === undefined) continue;
        const h = (plot * v) / span;
        const r = el("rect", {
          x: x, y: sign < 0 ? zero - h : zero, width: bw, height: Math.max(h, 0.5),
          class: key + " " + (it.source || ""), "data-i": n, "data-kwh": v,
        });
        r.appendChild(el("title", {}, it.title + (key === "imp" ? " 買電 bought " : " 売電 sold ") + v.toFixed(3) + " kWh" + (it.note || "")));
        g.appendChild(r);
      }
    });
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    svg.replaceChildren(g);
  }

  const SOURCE = { meter: " (メーターの30分値 meter's half-hour value)", counter: " (積算値の差 from the counter)" };

  async function drawSummary() {
    const s = await get("/api/energy/summary");
    const p = s.power;
    const now = $("power-now");
    if (p.watts === null) {
      now.textContent = "— W";
      now.dataset.direction = "";
    } else {
      now.textContent = (p.direction === "export" ? "売電中 Selling " : "買電中 Buying ") + Math.abs(p.watts).toFixed(0) + " W";
      now.dataset.direction = p.direction;
      now.dataset.watts = p.watts;
    }
    const age = p.time ? (Date.now() - Date.parse(p.time)) / 1000 : null;
    $("power-time").textContent = p.time ? p.time.slice(11, 19) + (age > 300 ? " 古い値 stale" : "") : "";
    for (const key of ["today", "yesterday", "this_month", "last_month"]) {
      for (const d of ["import", "export"]) {
        const cell = $(key + "-" + d);
        const v = s[key][d + "_kwh"];
        cell.textContent = fmt(v, 2);
        cell.dataset.kwh = v === null ? "" : v;
      }
    }
    building = s.building ? "集計中… / Reading the CSV files for the first time… (" + s.cache.days + " 日 days)" : "";
  }

  async function drawHalfhours() {
    const h = await get("/api/energy/halfhours" + (shown ? "?date=" + shown : ""));
    $("hh-date").textContent = h.date;
    $("hh-date").dataset.date = h.date;
    $("hh-prev").dataset.date = h.previous;
    $("hh-next").dataset.date = h.next || "";
    $("hh-next").disabled = !h.next;
    const gaps = h.slots.filter((s) => !s.future && !s.in_progress && !s.source).length;
    $("hh-total").textContent = "買電 bought " + fmt(h.import_kwh, 2) + " kWh · 売電 sold " + fmt(h.export_kwh, 2) + " kWh" +
      (gaps ? " · 欠け " + gaps + " gaps" : "") +
      (h.unplaced_import_kwh > 0 ? " (うち欠けの間の買電 of which across gaps " + fmt(h.unplaced_import_kwh, 2) + " kWh)" : "");
    $("hh-total").dataset.import = h.import_kwh ?? "";
    $("hh-total").dataset.export = h.export_kwh ?? "";
    bars($("halfhours"), h.slots.map((s) => ({
      label: s.start.slice(11, 13), imp: s.import_kwh, exp: s.export_kwh,
      source: s.in_progress ? "counter partial" : s.source, future: s.future,
      title: s.start.slice(11, 16), note: s.in_progress ? " (計測中 so far)" : SOURCE[s.source] || "",
    })), 6);
  }

  async function drawDays() {
    const d = await get("/api/energy/days");
    bars($("daily"), d.days.map((x) => ({
      label: x.date.slice(8), imp: x.import_kwh, exp: x.export_kwh, source: x.complete ? "" : "partial",
      title: x.date, note: x.complete ? "" : " (一部欠け incomplete)",
    })), 5);
  }

  async function drawMonths() {
    const m = await get("/api/energy/months");
    bars($("monthly"), m.months.map((x) => ({
      label: x.month.slice(5), imp: x.import_kwh, exp: x.export_kwh, source: "",
      title: x.month, note: " (" + x.days_with_data + "/" + x.days + " 日 days)",
    })), 1);
    const rows = m.months.slice().reverse().map((x) => "<tr><td>" + x.month + "</td><td class=num data-kwh='" + (x.import_kwh ?? "") + "'>" +
      fmt(x.import_kwh, 1) + "</td><td class=num>" + fmt(x.export_kwh, 1) + "</td><td class=num>" + x.days_with_data + "/" + x.days + "</td></tr>");
    $("months-body").innerHTML = rows.join("");
  }

  async function drawFiles() {
    const f = await get("/api/energy/files");
    $("files").innerHTML = f.files.slice(0, allFiles ? undefined : 14).map((x) =>
      "<li><a href='" + x.url + "' download>" + x.name + "</a> <small>" + (x.bytes / 1024).toFixed(0) + " KiB</small></li>").join("") ||
      "<li>" + (f.enabled ? "まだファイルがありません / no files yet" : "CSV は無効です / CSV is off") + "</li>";
  }

  async function drawHealth() {
    const r = await fetch("/", { cache: "no-store" });
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    const fresh = doc.getElementById("health");
    if (fresh) $("health").replaceChildren(...fresh.childNodes);
  }

  async function all(withHealth) {
    const jobs = [drawSummary(), drawHalfhours(), drawDays(), drawMonths(), drawFiles()];
    if (withHealth) jobs.push(drawHealth());
    const done = await Promise.allSettled(jobs);
    const failed = done.filter((x) => x.status === "rejected");
    $("energy-status").textContent = failed.length ? "データを取得できませんでした / Could not load the energy data." : building;
    document.body.dataset.energy = failed.length ? "error" : "ready";
  }

  function go(date) {
    shown = date;
    history.replaceState(null, "", date ? "#" + date : location.pathname);
    drawHalfhours();
  }
  $("hh-prev").addEventListener("click", (e) => go(e.target.dataset.date));
  $("hh-next").addEventListener("click", (e) => go(e.target.dataset.date));
  $("hh-today").addEventListener("click", () => go(""));
  $("files-all").addEventListener("click", () => { allFiles = !allFiles; drawFiles(); });
  let resized;
  window.addEventListener("resize", () => { clearTimeout(resized); resized = setTimeout(() => all(false), 200); });
  all(false);
  setInterval(() => all(true), 30000);
});
