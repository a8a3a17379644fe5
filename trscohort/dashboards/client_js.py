"""The browser side of the pages (issue 16): filters, charts drawn from the page's aggregate
table, a data table and a CSV download under every chart. Plain JavaScript, no library but
Plotly (copied beside the pages), so the pages open offline.

Suppression in the browser (see `trscohort.dashboards.client`): a value is an embedded cell or
a sum of embedded cells; a sum that takes in a suppressed cell is shown as suppressed, and a
percentage only when its numerator and denominator are both shown.
"""

# Tables and downloads: for every chart, Python-drawn or browser-drawn.
COMMON_JS = r"""
const TRS = (function () {
  const narrow = () => window.innerWidth < 700;
  function plotConfig() {
    return {displaylogo: false, responsive: true, displayModeBar: !narrow()};
  }
  function fitLayout(layout, height) {
    // Titles live in the section heading; legends go below; small screens get room.
    const out = Object.assign({}, layout);
    out.title = {text: ""};
    out.legend = Object.assign({orientation: "h", y: -0.25, x: 0}, layout.legend || {},
                               {orientation: "h", x: 0});
    out.margin = Object.assign({}, layout.margin || {}, {t: 30});
    if (narrow()) {
      out.margin = Object.assign({}, out.margin, {l: 45, r: 10});
      out.legend.y = -0.35;
    }
    if (height) { out.height = narrow() ? Math.round(height * 1.3) : height; }
    return out;
  }
  function csvCell(v) {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function csv(columns, rows) {
    return [columns, ...rows].map(r => r.map(csvCell).join(",")).join("\n") + "\n";
  }
  function sortRows(rows, col, dir) {
    const num = v => (typeof v === "number" ? v : (/^-?[\d,.]+( %)?$/.test(String(v))
      ? parseFloat(String(v).replace(/,/g, "")) : null));
    return rows.slice().sort((a, b) => {
      const x = num(a[col]), y = num(b[col]);
      if (x !== null && y !== null) { return dir * (x - y); }
      if (x !== null) { return -1; }
      if (y !== null) { return 1; }
      return dir * String(a[col]).localeCompare(String(b[col]));
    });
  }
  function table(el, name, columns, rows, note) {
    // A sortable table of exactly the published values, and the same rows as a CSV file.
    el.textContent = "";
    const bar = document.createElement("p");
    bar.className = "table-bar";
    const link = document.createElement("a");
    link.className = "csv";
    link.textContent = "Download CSV (" + rows.length + " rows)";
    link.download = name + ".csv";
    link.href = "data:text/csv;charset=utf-8," + encodeURIComponent(csv(columns, rows));
    bar.appendChild(link);
    if (note) {
      const span = document.createElement("span");
      span.className = "note";
      span.textContent = " " + note;
      bar.appendChild(span);
    }
    el.appendChild(bar);
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    const t = document.createElement("table");
    t.className = "data";
    const head = t.createTHead().insertRow();
    let order = {col: -1, dir: 1};
    const body = t.createTBody();
    function fill(data) {
      body.textContent = "";
      for (const r of data) {
        const tr = body.insertRow();
        for (const v of r) { tr.insertCell().textContent = v === null ? "" : String(v); }
      }
    }
    columns.forEach((c, i) => {
      const th = document.createElement("th");
      th.textContent = c;
      th.title = "sort";
      th.addEventListener("click", () => {
        order = {col: i, dir: order.col === i ? -order.dir : 1};
        fill(sortRows(rows, i, order.dir));
      });
      head.appendChild(th);
    });
    fill(rows);
    wrap.appendChild(t);
    el.appendChild(wrap);
  }
  function figureTable(fig) {
    // The published numbers of a Python-drawn figure: one row per point of each trace (a
    // table trace: its own rows). {columns, rows}.
    const tables = (fig.data || []).filter(tr => tr.type === "table");
    if (tables.length) {
      const tr = tables[0];
      const cols = (tr.header && tr.header.values || []).map(v => String(v).replace(/<[^>]+>/g, ""));
      const cells = tr.cells && tr.cells.values || [];
      const n = cells.length ? cells[0].length : 0;
      const rows = [];
      for (let i = 0; i < n; i++) {
        rows.push(cells.map(c => String(c[i] === null || c[i] === undefined ? "" : c[i])
          .replace(/<br>/g, " ").replace(/<[^>]+>/g, "")));
      }
      return {columns: cols, rows: rows};
    }
    const rows = [];
    for (const tr of fig.data || []) {
      if (tr.legendgroup === "suppressed" || tr.showlegend === false && !tr.customdata
          && tr.mode === "markers") { continue; }
      if (tr.hoverinfo === "skip" || tr.fill === "toself") { continue; }  // bands: drawn, not data
      const horizontal = tr.orientation === "h" || (Array.isArray(tr.y) && Array.isArray(tr.x)
        && typeof tr.y.find(v => v !== null) === "string"
        && typeof tr.x.find(v => v !== null) !== "string");
      const cats = horizontal ? tr.y : (tr.x || tr.labels);
      const vals = horizontal ? tr.x : (tr.y || tr.values);
      if (!cats || !vals || typeof cats !== "object") { continue; }
      for (let i = 0; i < cats.length; i++) {
        let shown = tr.customdata && tr.customdata[i] !== undefined
          ? (Array.isArray(tr.customdata[i]) ? tr.customdata[i].join(" ") : tr.customdata[i])
          : vals[i];
        const text = Array.isArray(tr.text) ? tr.text[i] : null;
        if (text && String(text) !== String(shown)) { shown = shown + " (" + text + ")"; }
        rows.push([tr.name || "", String(cats[i]).replace(/<br>/g, " "),
                   shown === null || shown === undefined ? "" : shown]);
      }
    }
    return {columns: ["series", "category", "value shown"], rows: rows};
  }
  return {plotConfig, fitLayout, table, figureTable, csv, narrow};
})();
"""

# The pages whose charts are precomputed figures (one per filter value).
FIGURE_JS = r"""
(function () {
  const charts = JSON.parse(document.getElementById("chart-data").textContent);
  const template = JSON.parse(document.getElementById("chart-template").textContent);
  function selected(name) {
    const el = document.getElementById("filter-" + name);
    return el ? el.value : "";
  }
  function draw() {
    for (const [id, chart] of Object.entries(charts)) {
      const site = chart.filters.includes("site") ? selected("site") : "";
      const period = chart.filters.includes("period") ? selected("period") : "";
      const variant = chart.variants[site + "|" + period] || chart.variants["|"];
      const el = document.getElementById(id);
      const tableEl = document.getElementById(id.replace(/^chart-/, "table-"));
      if (variant.figure) {
        el.classList.remove("unavailable");
        if (!el._fullLayout) { el.textContent = ""; }
        const layout = Object.assign(TRS.fitLayout(variant.figure.layout), {template: template});
        Plotly.react(el, variant.figure.data, layout, TRS.plotConfig());
        if (tableEl) {
          const t = TRS.figureTable(variant.figure);
          TRS.table(tableEl, id.replace(/^chart-/, ""), t.columns, t.rows);
        }
      } else {
        Plotly.purge(el);
        el.classList.add("unavailable");
        el.textContent = variant.message;
        if (tableEl) { tableEl.textContent = ""; }
      }
    }
  }
  for (const name of ["site", "period"]) {
    const el = document.getElementById("filter-" + name);
    if (el) { el.addEventListener("change", draw); }
  }
  draw();
})();
"""

# Filters over the page's aggregate table (site, year, quarter, rolling 12 months, date range,
# previous period) and the sums the charts draw.
FILTER_JS = r"""
const FILTER = (function () {
  const D = JSON.parse(document.getElementById("page-data").textContent);
  const SMALL = D.smallLabel;
  const ym = m => parseInt(m.slice(0, 4), 10) * 12 + parseInt(m.slice(5, 7), 10) - 1;
  const monthName = n => String(Math.floor(n / 12)) + "-" + String(n % 12 + 1).padStart(2, "0");
  const quarterOf = m => m.slice(0, 4) + "-Q" + (Math.floor((parseInt(m.slice(5, 7), 10) - 1) / 3) + 1);
  const months = D.months;
  const first = months.length ? ym(months[0]) : 0;
  const last = months.length ? ym(months[months.length - 1]) : 0;
  function option(value, text) {
    const o = document.createElement("option");
    o.value = value; o.textContent = text; return o;
  }
  function select(id, label, options) {
    const l = document.createElement("label");
    l.id = "label-" + id;
    l.append(label + " ");
    const s = document.createElement("select");
    s.id = "filter-" + id;
    for (const [v, t] of options) { s.appendChild(option(v, t)); }
    l.appendChild(s);
    return l;
  }
  const years = [...new Set(months.map(m => m.slice(0, 4)))];
  const quarters = [...new Set(months.map(quarterOf))];
  function build(host, onChange) {
    host.textContent = "";
    host.appendChild(select("site", "Site", [["", "all sites"], ...D.sites.map(s => [s, s])]));
    host.appendChild(select("mode", "Period", [["all", "all time"], ["year", "calendar year"],
      ["quarter", "quarter"], ["rolling", "rolling 12 months"], ["range", "date range"]]));
    host.appendChild(select("year", "Year", years.slice().reverse().map(y => [y, y])));
    host.appendChild(select("quarter", "Quarter", quarters.slice().reverse().map(q => [q, q])));
    host.appendChild(select("from", "From", months.map(m => [m, m])));
    host.appendChild(select("to", "to", months.slice().reverse().map(m => [m, m])));
    document.getElementById("filter-mode").value = "rolling";  // recent, large counts
    const c = document.createElement("label");
    c.innerHTML = '<input type="checkbox" id="filter-compare"> compare with the previous period';
    host.appendChild(c);
    const summary = document.createElement("p");
    summary.id = "filter-summary"; summary.className = "note";
    host.appendChild(summary);
    for (const el of host.querySelectorAll("select, input")) {
      el.addEventListener("change", () => { sync(); onChange(); });
    }
    sync();
  }
  function value(id) { const el = document.getElementById("filter-" + id); return el ? el.value : ""; }
  function sync() {
    const mode = value("mode");
    for (const [id, on] of [["year", mode === "year"], ["quarter", mode === "quarter"],
                            ["from", mode === "range"], ["to", mode === "range"]]) {
      document.getElementById("label-" + id).style.display = on ? "" : "none";
    }
  }
  function interval() {
    // [first, last] calendar month numbers of the selection, and its name.
    const mode = value("mode");
    if (mode === "year") { const y = parseInt(value("year"), 10); return [y * 12, y * 12 + 11, value("year")]; }
    if (mode === "quarter") {
      const q = value("quarter"); const y = parseInt(q.slice(0, 4), 10);
      const a = y * 12 + (parseInt(q.slice(6), 10) - 1) * 3; return [a, a + 2, q];
    }
    if (mode === "rolling") { return [last - 11, last, "12 months to " + monthName(last)]; }
    if (mode === "range") {
      let a = ym(value("from")), b = ym(value("to"));
      if (a > b) { [a, b] = [b, a]; }
      return [a, b, monthName(a) + " to " + monthName(b)];
    }
    return [first, last, "all time"];
  }
  function current() {
    const [a, b, name] = interval();
    const compare = document.getElementById("filter-compare").checked && value("mode") !== "all";
    const sel = {site: value("site"), a: a, b: b, name: name, prev: null};
    if (compare) {
      const n = b - a + 1;
      sel.prev = {site: sel.site, a: a - n, b: a - 1,
                  name: "previous period, " + monthName(a - n) + " to " + monthName(a - 1)};
    }
    const summary = document.getElementById("filter-summary");
    if (summary) {
      summary.textContent = "Showing " + (sel.site || "all sites") + ", " + name +
        (sel.prev ? " (compared with the " + sel.prev.name + ")" : "") + ".";
    }
    return sel;
  }
  // Embedded values: >= 0 a count, -1 "<11", -2 "withheld".
  function label(v) { return v === -1 ? SMALL : v === -2 ? "withheld" : v.toLocaleString("en"); }
  function total(codes) {
    // The sum of cells; suppressed when any cell is (so that nothing can be subtracted from it).
    let sum = 0, hidden = [];
    for (const v of codes) { if (v < 0) { hidden.push(v); } else { sum += v; } }
    if (!hidden.length) { return {v: sum, label: sum.toLocaleString("en")}; }
    if (codes.length === 1) { return {v: null, label: label(hidden[0])}; }
    return {v: null, label: "suppressed"};
  }
  function share(n, d) {
    // n / N as a percentage: only when both counts are shown.
    if (n.v === null || d.v === null) {
      return {pct: null, text: d.v === 0 ? "no data" : "withheld", n: n, d: d};
    }
    if (d.v === 0) { return {pct: null, text: "no data", n: n, d: d}; }
    const pct = 100 * n.v / d.v;
    return {pct: pct, text: pct.toFixed(1) + " %", n: n, d: d};
  }
  function index(rows, keyCols) {
    // {"site|month|...": row} over the embedded rows.
    const map = new Map();
    for (const r of rows) { map.set(r.slice(0, keyCols).join("|"), r); }
    return map;
  }
  function monthIndexes(a, b) {
    const out = [];
    months.forEach((m, i) => { const n = ym(m); if (n >= a && n <= b) { out.push(i); } });
    return out;
  }
  return {D, build, current, total, share, index, monthIndexes, label, ym, SMALL};
})();
"""

MONITORING_JS = r"""
(function () {
  const F = FILTER, D = F.D;
  const W = F.index(D.windows.rows, 3), P = F.index(D.patients.rows, 2);
  const siteIdx = s => (s === "" ? -1 : D.sites.indexOf(s));
  const ruleIdx = r => D.rules.indexOf(r);
  function windows(site, monthIdx, rule) {
    // observed, missed, expected windows summed over months and rules (suppressed if any
    // part is); `rule` is one rule or a list of rules.
    const parts = [[], [], []];
    for (const r of [].concat(rule)) {
      for (const m of monthIdx) {
        const row = W.get([siteIdx(site), m, ruleIdx(r)].join("|"));
        if (row) { parts[0].push(row[3]); parts[1].push(row[4]); parts[2].push(row[5]); }
      }
    }
    const [o, mi, e] = parts.map(F.total);
    return {observed: o, missed: mi, expected: e, adherence: F.share(o, e), missedShare: F.share(mi, e)};
  }
  function patients(site, m) {
    const row = P.get([siteIdx(site), m].join("|"));
    if (!row) { return null; }
    return F.share(F.total([row[2]]), F.total([row[4]]));
  }
  const target = D.target;
  function targetShape(xref, yref) {
    return {type: "line", xref: xref + " domain", x0: 0, x1: 1, yref: yref, y0: target, y1: target,
            line: {dash: "dash", color: "#6c757d", width: 1}};
  }
  function zoom(values) {
    // A zoomed axis: from just below the lowest value shown (never the whole 0-100).
    const shown = values.filter(v => v !== null && v !== undefined);
    const low = shown.length ? Math.min(...shown, target) : target - 10;
    return [Math.max(0, Math.floor(low - 2)), 100.5];
  }
  const fmt = s => s.pct === null ? null : +s.pct.toFixed(1);
  const nOfN = s => s.n.label + " / " + s.d.label;

  function bars(id, rules, sel) {
    const months = F.monthIndexes(sel.a, sel.b);
    const prevMonths = sel.prev ? F.monthIndexes(sel.prev.a, sel.prev.b) : [];
    const now = rules.map(r => windows(sel.site, months, r));
    const before = rules.map(r => windows(sel.site, prevMonths, r));
    const labels = rules.map(r => D.ruleLabels[r]);
    const traces = [{type: "bar", x: labels, y: now.map(w => fmt(w.adherence)), name: sel.name,
      text: now.map(w => w.adherence.text), textposition: "outside", marker: {color: "#457b9d"},
      customdata: now.map(w => nOfN(w.adherence)),
      hovertemplate: "%{x}: %{text} (%{customdata})<extra></extra>"}];
    if (sel.prev) {
      traces.push({type: "bar", x: labels, y: before.map(w => fmt(w.adherence)), name: sel.prev.name,
        text: before.map(w => w.adherence.text), textposition: "outside",
        marker: {color: "#adb5bd"}, customdata: before.map(w => nOfN(w.adherence)),
        hovertemplate: "%{x}: %{text} (%{customdata})<extra>previous</extra>"});
    }
    const all = [...now, ...before].map(w => fmt(w.adherence));
    const layout = TRS.fitLayout({barmode: "group", shapes: [targetShape("x", "y")],
      yaxis: {title: {text: "% of expected windows observed"}, range: zoom(all)},
      xaxis: {automargin: true}, annotations: [{xref: "paper", yref: "y", x: 1, y: target,
      text: "target " + target + " %", showarrow: false, xanchor: "right", yanchor: "bottom",
      font: {size: 11, color: "#6c757d"}}]}, 420);
    Plotly.react(document.getElementById("chart-" + id), traces, layout, TRS.plotConfig());
    const columns = ["rule", "observed windows (n)", "expected windows (N)", "adherence %"];
    if (sel.prev) { columns.push("previous n / N", "previous %", "change (points)"); }
    const rows = rules.map((r, i) => {
      const w = now[i], row = [D.ruleLabels[r], w.observed.label, w.expected.label, w.adherence.text];
      if (sel.prev) {
        const p = before[i];
        row.push(nOfN(p.adherence), p.adherence.text,
          w.adherence.pct !== null && p.adherence.pct !== null
            ? (w.adherence.pct - p.adherence.pct).toFixed(1) : "");
      }
      return row;
    });
    TRS.table(document.getElementById("table-" + id), id, columns, rows,
      "Target " + target + " %. Sums over months that include a suppressed cell are shown as suppressed.");
  }

  function siteRun(id, sel) {
    // Per site and month: window adherence (weeks 1 on) and % of patients fully adherent.
    const monthIdx = F.monthIndexes(sel.a, sel.b);
    const sites = sel.site ? [sel.site] : D.sites;
    const pooled = D.pooled;
    const period = sites.map(s => ({site: s, w: windows(s, monthIdx, pooled)}));
    // Worst first: the lowest adherence over the period; withheld sites after the others.
    period.sort((a, b) => (a.w.adherence.pct === null) - (b.w.adherence.pct === null)
      || (a.w.adherence.pct || 0) - (b.w.adherence.pct || 0) || a.site.localeCompare(b.site));
    const x = monthIdx.map(m => D.months[m]);
    const multiples = period.length > 8;
    const cols = multiples ? (TRS.narrow() ? 2 : 4) : 1;
    const rowsN = multiples ? Math.ceil(period.length / cols) : 1;
    const traces = [], shapes = [], annotations = [], tableRows = [], values = [];
    const palette = ["#1d3557", "#e63946", "#2a9d8f", "#f4a261", "#6d597a", "#457b9d", "#bc6c25", "#588157"];
    period.forEach((p, i) => {
      const ax = multiples ? (i === 0 ? "" : String(i + 1)) : "";
      const colour = multiples ? "#1d3557" : palette[i % palette.length];
      const adh = monthIdx.map(m => windows(p.site, [m], pooled).adherence);
      const pat = monthIdx.map(m => patients(p.site, m));
      adh.forEach(s => values.push(fmt(s)));
      traces.push({type: "scatter", mode: "lines+markers", x: x, y: adh.map(fmt),
        name: multiples ? "windows observed" : p.site, legendgroup: multiples ? "w" : p.site,
        showlegend: multiples ? i === 0 : true, line: {color: colour, width: 2},
        marker: {size: 4}, customdata: adh.map(s => s.text + " (" + nOfN(s) + ")"),
        hovertemplate: p.site + " %{x}: %{customdata}<extra>windows</extra>",
        xaxis: "x" + ax, yaxis: "y" + ax});
      traces.push({type: "scatter", mode: "lines", x: x, y: pat.map(s => (s ? fmt(s) : null)),
        name: multiples ? "patients fully adherent" : p.site + ": patients fully adherent",
        legendgroup: multiples ? "p" : p.site, showlegend: multiples ? i === 0 : false,
        line: {color: multiples ? "#e76f51" : colour, width: 1, dash: "dot"},
        customdata: pat.map(s => (s ? s.text + " (" + nOfN(s) + ")" : "no patients")),
        hovertemplate: p.site + " %{x}: %{customdata}<extra>patients fully adherent</extra>",
        xaxis: "x" + ax, yaxis: "y" + ax});
      pat.forEach(s => values.push(s ? fmt(s) : null));
      if (multiples) {
        shapes.push(targetShape("x" + ax, "y" + ax));
        annotations.push({text: "<b>" + p.site + "</b> " + p.w.adherence.text,
          xref: "x" + ax + " domain", yref: "y" + ax + " domain", x: 0, y: 1.02,
          xanchor: "left", yanchor: "bottom", showarrow: false, font: {size: 11}});
      }
      monthIdx.forEach((m, j) => tableRows.push([p.site, D.months[m], adh[j].n.label,
        adh[j].d.label, adh[j].text, pat[j] ? pat[j].n.label : "0",
        pat[j] ? pat[j].d.label : "0", pat[j] ? pat[j].text : "no data"]));
    });
    const range = zoom(values);
    const layout = {showlegend: true, shapes: multiples ? shapes : [targetShape("x", "y")],
      annotations: annotations, hovermode: "closest"};
    if (multiples) {
      layout.grid = {rows: rowsN, columns: cols, pattern: "independent", ygap: 0.45, xgap: 0.12};
      period.forEach((p, i) => {
        const ax = i === 0 ? "" : String(i + 1);
        layout["yaxis" + ax] = {range: range, tickfont: {size: 9}};
        layout["xaxis" + ax] = {tickfont: {size: 9}, nticks: 4, type: "category"};
      });
    } else {
      layout.yaxis = {title: {text: "% (dashed line: target)"}, range: range};
      layout.xaxis = {type: "category", title: {text: "month the window starts"}};
    }
    const height = multiples ? 150 * rowsN + 120 : 420;
    Plotly.react(document.getElementById("chart-" + id), traces, TRS.fitLayout(layout, height),
      TRS.plotConfig());
    TRS.table(document.getElementById("table-" + id), id,
      ["site", "month", "windows observed (n)", "windows expected (N)", "window adherence %",
       "patients fully adherent (n)", "patients with a window (N)", "patients fully adherent %"],
      tableRows, "Sites worst first (adherence over the period). Target " + target + " %.");
  }

  function missed(id, sel) {
    // Share of expected windows missed, per month and monitoring group.
    const monthIdx = F.monthIndexes(sel.a, sel.b);
    const groups = [[D.ruleLabels[D.pooled], [D.pooled]]];
    for (const prefix of ["MON-CV", "MON-MET", "MON-LVL", "MON-LFT"]) {
      const rules = D.rules.filter(r => r.startsWith(prefix + "-"));
      if (rules.length) { groups.push([prefix, rules]); }
    }
    const traces = [], rows = [];
    for (const [name, rules] of groups) {
      const cells = monthIdx.map(m => windows(sel.site, [m], rules).missedShare);
      traces.push({type: "scatter", mode: "lines+markers", name: name,
        x: monthIdx.map(m => D.months[m]), y: cells.map(fmt), marker: {size: 4},
        customdata: cells.map(s => s.text + " (" + nOfN(s) + ")"),
        hovertemplate: "%{x}: %{customdata}<extra>" + name + "</extra>"});
      monthIdx.forEach((m, j) => rows.push([D.months[m], name, cells[j].n.label, cells[j].d.label, cells[j].text]));
    }
    const layout = TRS.fitLayout({yaxis: {title: {text: "% of expected windows missed"}, rangemode: "tozero"},
      xaxis: {type: "category", title: {text: "month the window starts"}}}, 420);
    Plotly.react(document.getElementById("chart-" + id), traces, layout, TRS.plotConfig());
    TRS.table(document.getElementById("table-" + id), id,
      ["month", "group", "missed windows (n)", "expected windows (N)", "missed %"], rows,
      "A share, not a count: it does not rise with caseload.");
  }

  const draw = () => {
    const sel = F.current();
    bars("anc_adherence_by_phase", D.ancPhases, sel);
    siteRun("adherence_run_chart", sel);
    bars("other_monitoring_adherence", D.otherRules, sel);
    missed("missed_share_by_month", sel);
  };
  F.build(document.getElementById("client-filters"), draw);
  draw();
  window.addEventListener("resize", () => { clearTimeout(window._trsResize); window._trsResize = setTimeout(draw, 200); });
})();
"""

SAFETY_JS = r"""
(function () {
  const F = FILTER, D = F.D;
  const R = F.index(D.raised.rows, 3);
  const siteIdx = s => (s === "" ? -1 : D.sites.indexOf(s));
  function raised(site, monthIdx, f) {
    // Flags raised over the months (suppressed if any month is); 0 when none.
    const codes = [];
    for (const m of monthIdx) {
      const row = R.get([siteIdx(site), m, f].join("|"));
      if (row) { codes.push(row[3]); }
    }
    return F.total(codes);
  }
  const colour = {urgent: "#e63946", review: "#f4a261", process: "#457b9d"};
  function bars(id, sel) {
    const months = F.monthIndexes(sel.a, sel.b);
    const prev = sel.prev ? F.monthIndexes(sel.prev.a, sel.prev.b) : [];
    const flags = D.flags.map((f, i) => ({f: f, i: i}));
    const labels = flags.map(x => x.f + " (" + D.severity[x.f] + ")");
    const now = flags.map(x => raised(sel.site, months, x.i));
    const before = flags.map(x => raised(sel.site, prev, x.i));
    const traces = [{type: "bar", orientation: "h", y: labels, x: now.map(c => c.v),
      text: now.map(c => c.label), textposition: "outside", cliponaxis: false, name: sel.name,
      marker: {color: flags.map(x => colour[D.severity[x.f]] || "#6c757d")},
      customdata: flags.map(x => D.flagLabels[x.f]),
      hovertemplate: "%{y}: %{text} flags<br>%{customdata}<extra></extra>"}];
    if (sel.prev) {
      traces.push({type: "bar", orientation: "h", y: labels, x: before.map(c => c.v),
        text: before.map(c => c.label), textposition: "outside", cliponaxis: false,
        name: sel.prev.name, marker: {color: "#adb5bd"},
        hovertemplate: "%{y}: %{text} flags<extra>previous</extra>"});
    }
    const layout = TRS.fitLayout({barmode: "group", yaxis: {autorange: "reversed", automargin: true},
      xaxis: {title: {text: "flags raised (a suppressed count is labelled, not drawn)"},
              rangemode: "tozero"}}, 120 + 40 * flags.length * (sel.prev ? 1.6 : 1));
    Plotly.react(document.getElementById("chart-" + id), traces, layout, TRS.plotConfig());
    const columns = ["flag", "severity", "what it flags", "flags raised (n)"];
    if (sel.prev) { columns.push("previous period (n)"); }
    TRS.table(document.getElementById("table-" + id), id, columns, flags.map((x, j) => {
      const row = [x.f, D.severity[x.f], D.flagLabels[x.f], now[j].label];
      if (sel.prev) { row.push(before[j].label); }
      return row;
    }), "Every flag type is listed, zero included; urgent first.");
  }
  function trend(id, sel) {
    const months = F.monthIndexes(sel.a, sel.b);
    const traces = [], rows = [];
    D.flags.forEach((f, i) => {
      const cells = months.map(m => raised(sel.site, [m], i));
      traces.push({type: "scatter", mode: "lines+markers", name: f, x: months.map(m => D.months[m]),
        y: cells.map(c => c.v), text: cells.map(c => c.label), marker: {size: 5},
        line: {color: colour[D.severity[f]] || "#6c757d", width: D.severity[f] === "urgent" ? 3 : 1.5},
        hovertemplate: "%{x}: %{text}<extra>" + f + "</extra>"});
      months.forEach((m, j) => rows.push([D.months[m], f, cells[j].label]));
    });
    const layout = TRS.fitLayout({xaxis: {type: "category", title: {text: "month of the flag"}},
      yaxis: {title: {text: "flags raised"}, rangemode: "tozero"}}, 420);
    Plotly.react(document.getElementById("chart-" + id), traces, layout, TRS.plotConfig());
    TRS.table(document.getElementById("table-" + id), id, ["month", "flag", "flags raised (n)"],
      rows, "Suppressed months are gaps in the line and labelled in this table.");
  }
  const draw = () => {
    const sel = F.current();
    bars("safety_flags", sel);
    trend("safety_flags_by_month", sel);
  };
  F.build(document.getElementById("client-filters"), draw);
  draw();
  window.addEventListener("resize", () => { clearTimeout(window._trsResize); window._trsResize = setTimeout(draw, 200); });
})();
"""

# Adverse events (issue 16): incidence per 1,000 person-years with exact Poisson intervals, one
# panel per event with its own y axis, filtered by site and course start year in the browser.
ADVERSE_EVENTS_JS = r"""
const POISSON = (function () {
  // Exact (Garwood) interval of a Poisson count k at level L, as trscohort/rates.py computes it:
  // lower = chi2(a/2; 2k)/2 = Gamma(k) quantile a/2 (0 when k = 0), upper = Gamma(k + 1)
  // quantile 1 - a/2, a = 1 - L.
  const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028,
    771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7];
  function lnGamma(x) {
    if (x < 0.5) { return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x); }
    x -= 1;
    let a = LANCZOS[0];
    const t = x + 7.5;
    for (let i = 1; i < 9; i++) { a += LANCZOS[i] / (x + i); }
    return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
  }
  function gammaP(a, x) {
    // Regularised lower incomplete gamma P(a, x): series below a + 1, continued fraction above.
    if (x <= 0) { return 0; }
    const front = Math.exp(-x + a * Math.log(x) - lnGamma(a));
    if (x < a + 1) {
      let sum = 1 / a, term = sum;
      for (let n = 1; n < 100000; n++) {
        term *= x / (a + n); sum += term;
        if (Math.abs(term) < Math.abs(sum) * 1e-15) { break; }
      }
      return sum * front;
    }
    let b = x + 1 - a, c = 1 / 1e-300, d = 1 / b, h = d;
    for (let i = 1; i < 100000; i++) {
      const an = -i * (i - a);
      b += 2;
      d = an * d + b; if (Math.abs(d) < 1e-300) { d = 1e-300; }
      c = b + an / c; if (Math.abs(c) < 1e-300) { c = 1e-300; }
      d = 1 / d;
      const delta = d * c;
      h *= delta;
      if (Math.abs(delta - 1) < 1e-15) { break; }
    }
    return 1 - front * h;
  }
  function gammaQuantile(p, a) {
    // x with P(a, x) = p, by bisection (P rises with x).
    let lo = 0, hi = a + 10 * Math.sqrt(a) + 10;
    while (gammaP(a, hi) < p) { hi *= 2; }
    for (let i = 0; i < 200 && hi - lo > 1e-13 * Math.max(1, hi); i++) {
      const mid = (lo + hi) / 2;
      if (gammaP(a, mid) < p) { lo = mid; } else { hi = mid; }
    }
    return (lo + hi) / 2;
  }
  function interval(k, level) {
    const alpha = 1 - level;
    return [k > 0 ? gammaQuantile(alpha / 2, k) : 0, gammaQuantile(1 - alpha / 2, k + 1)];
  }
  return {interval, gammaP, gammaQuantile, lnGamma};
})();

(function () {
  const D = FILTER.D;
  const cells = new Map(D.cells.rows.map(r => [r.slice(0, 4).join("|"), r]));
  const per = 1000;
  function option(value, text) {
    const o = document.createElement("option"); o.value = value; o.textContent = text; return o;
  }
  function select(host, id, label, options, chosen) {
    const l = document.createElement("label");
    l.append(label + " ");
    const s = document.createElement("select");
    s.id = "filter-" + id;
    for (const [v, t] of options) { s.appendChild(option(v, t)); }
    if (chosen !== undefined) { s.value = chosen; }
    l.appendChild(s);
    host.appendChild(l);
    return s;
  }
  function buildFilters(host, onChange) {
    host.textContent = "";
    select(host, "site", "Site", [["", "all sites"], ...D.sites.map(s => [s, s])]);
    select(host, "stratifier", "Strata", D.stratifiers.filter(s => s[0] !== "overall"),
           "time_since_start");
    const years = D.years.map(y => [y, y]);
    select(host, "from", "Course started from", years);
    select(host, "to", "to", years.slice().reverse());
    const c = document.createElement("label");
    c.innerHTML = '<input type="checkbox" id="filter-compare"> compare with the previous start years';
    host.appendChild(c);
    const summary = document.createElement("p");
    summary.id = "filter-summary"; summary.className = "note";
    host.appendChild(summary);
    for (const el of host.querySelectorAll("select, input")) { el.addEventListener("change", onChange); }
  }
  const value = id => document.getElementById("filter-" + id).value;
  const yearsName = (a, b) => D.years[a] + (a === b ? "" : "\u2013" + D.years[b]);
  function selection() {
    let a = D.years.indexOf(value("from")), b = D.years.indexOf(value("to"));
    if (a > b) { [a, b] = [b, a]; }
    const site = value("site");
    const all = a === 0 && b === D.years.length - 1;
    const name = (site || "all sites") + ", " +
      (all ? "courses started in any year" : "courses started " + yearsName(a, b));
    const years = [];
    for (let y = a; y <= b; y++) { years.push(y); }
    // The previous period: as many start years just before the chosen ones (fewer when the
    // data start sooner); none before the first start year.
    let prev = null;
    if (document.getElementById("filter-compare").checked) {
      const n = b - a + 1, pa = Math.max(0, a - n), pb = a - 1;
      prev = pb < 0 ? {years: [], name: "no earlier start year"}
        : {years: Array.from({length: pb - pa + 1}, (_, i) => pa + i),
           name: "previous period, courses started " + yearsName(pa, pb)};
    }
    document.getElementById("filter-summary").textContent = "Showing " + name +
      (prev ? " (compared with the " + prev.name + ")" : "") + ".";
    return {site: site === "" ? -1 : D.sites.indexOf(site), years: all ? [-1] : years,
            stratifier: value("stratifier"), name: name, prev: prev};
  }
  function rate(sel, e, s, years) {
    // Events (summed over the start years; suppressed if any year is) and the rate with its
    // exact interval, only when the events and the (rounded) person-years are shown.
    years = years || sel.years;
    if (s !== 0 && sel.site !== -1 && years[0] !== -1) {
      return {events: {v: null, label: "not published"}, py: null, rate: null, low: null,
              high: null, text: "strata are published for one site over all years, or all sites"};
    }
    const codes = [];
    let py = 0, shown = true;
    for (const y of years) {
      const row = cells.get([sel.site, y, e, s].join("|"));
      if (!row) { continue; }
      codes.push(row[4]);
      if (row[5] === null) { shown = false; } else { py += row[5]; }
    }
    const events = FILTER.total(codes);
    const out = {events: events, py: shown && events.v !== null ? py : null,
                 rate: null, low: null, high: null};
    if (!codes.length) { out.text = "no person-time"; return out; }
    if (events.v === null || !shown) {
      out.text = "withheld (" + events.label + " events" + (events.v !== null ? ", few patients" : "") + ")";
      return out;
    }
    if (py <= 0) { out.text = "no person-time"; return out; }
    const [lo, hi] = POISSON.interval(events.v, D.ciLevel);
    out.rate = per * events.v / py; out.low = per * lo / py; out.high = per * hi / py;
    out.text = out.rate.toFixed(2) + " (" + out.low.toFixed(2) + "\u2013" + out.high.toFixed(2) + ")";
    return out;
  }
  // Axis ticks: the unit on a second line ("Weeks 4-18<br>since start"); the table has it whole.
  const tick = label => label.replace(/ (since start|mg\/day)$/, "<br>$1");
  function top(r) {
    // The panel's own scale: up to the highest upper bound among strata with events, so the
    // wide interval of a zero-event stratum with little person-time (its upper bound runs off
    // the panel; the table has it) does not flatten the rates.
    const shown = r.filter(x => x.rate !== null);
    const withEvents = shown.filter(x => x.events.v > 0);
    const highs = (withEvents.length ? withEvents : shown).map(x => x.high);
    return highs.length ? 1.05 * Math.max(...highs) : 1;
  }
  function draw() {
    const sel = selection();
    const strata = [0];  // the overall first, then the chosen stratifier's strata
    D.strata.forEach((s, i) => { if (s[0] === sel.stratifier) { strata.push(i); } });
    const labels = strata.map(i => D.stratumLabels[i]);
    const narrow = TRS.narrow();
    const cols = narrow ? 1 : 3, rowsN = Math.ceil(D.events.length / cols);
    const traces = [], annotations = [], rows = [];
    const layout = {showlegend: false, hovermode: "closest",
      grid: {rows: rowsN, columns: cols, pattern: "independent", ygap: 0.5, xgap: 0.12}};
    D.events.forEach((ev, e) => {
      const ax = e === 0 ? "" : String(e + 1);
      const r = strata.map(s => rate(sel, e, s));
      const before = sel.prev ? strata.map(s => rate(sel, e, s, sel.prev.years)) : null;
      if (before) {  // the previous period: a faint marker at the same stratum
        traces.push({type: "scatter", mode: "markers", x: labels.map(tick), y: before.map(x => x.rate),
          xaxis: "x" + ax, yaxis: "y" + ax, name: sel.prev.name,
          marker: {size: 11, color: "rgba(108, 117, 125, 0.35)", symbol: "diamond"},
          customdata: before.map(x => x.text + ", " + x.events.label + " events"),
          hovertemplate: "%{x}: %{customdata}<extra>previous</extra>"});
      }
      traces.push({type: "scatter", mode: "markers", x: labels.map(tick), y: r.map(x => x.rate),
        xaxis: "x" + ax, yaxis: "y" + ax, name: D.eventLabels[ev],
        marker: {size: 8, color: strata.map(s => (s === 0 ? "#1d3557" : "#457b9d"))},
        error_y: {type: "data", symmetric: false,
          array: r.map(x => (x.rate === null ? null : x.high - x.rate)),
          arrayminus: r.map(x => (x.rate === null ? null : x.rate - x.low))},
        customdata: r.map(x => x.text + ", " + x.events.label + " events"),
        hovertemplate: "%{x}: %{customdata}<extra>" + ev + "</extra>"});
      const withheld = r.map((x, i) => (x.rate === null ? i : -1)).filter(i => i >= 0);
      if (withheld.length) {
        traces.push({type: "scatter", mode: "text", x: withheld.map(i => tick(labels[i])),
          y: withheld.map(() => 0), text: withheld.map(i => (r[i].py === 0 ? "" : "withheld")),
          textposition: "top center", textfont: {size: 9, color: "#6c757d"},
          hoverinfo: "skip", xaxis: "x" + ax, yaxis: "y" + ax, name: ev + " withheld"});
      }
      annotations.push({text: "<b>" + D.eventLabels[ev] + "</b>", xref: "x" + ax + " domain",
        yref: "y" + ax + " domain", x: 0, y: 1.04, xanchor: "left", yanchor: "bottom",
        showarrow: false, font: {size: 12}});
      layout["xaxis" + ax] = {type: "category", tickfont: {size: 9}, automargin: true};
      layout["yaxis" + ax] = {range: [0, top(before ? [...r, ...before] : r)], tickfont: {size: 9},
        title: {text: e % cols === 0 ? "per 1,000 PY" : "", font: {size: 10}}};
      const cellsOf = x => [x.events.label, x.py === null ? "withheld" : x.py.toLocaleString("en"),
        x.rate === null ? x.text : x.rate.toFixed(2),
        x.rate === null ? "" : x.low.toFixed(2) + "\u2013" + x.high.toFixed(2)];
      strata.forEach((s, i) => rows.push([D.eventLabels[ev], D.stratumLabels[s], ...cellsOf(r[i]),
        ...(before ? cellsOf(before[i]) : [])]));
    });
    layout.annotations = annotations;
    const height = (narrow ? 260 : 250) * rowsN + 80;
    Plotly.react(document.getElementById("chart-ae_incidence"), traces,
      TRS.fitLayout(layout, narrow ? Math.round(height / 1.3) : height), TRS.plotConfig());
    const ci = Math.round(D.ciLevel * 100) + " % CI (exact Poisson)";
    const pyColumn = "person-years (rounded to " + D.personTimeUnit + ")";
    const columns = ["event", "stratum", "events (n)", pyColumn, "rate per 1,000 person-years", ci];
    if (sel.prev) {
      columns.push("previous: events (n)", "previous: " + pyColumn, "previous: rate per 1,000 PY",
        "previous: " + ci);
    }
    TRS.table(document.getElementById("table-ae_incidence"), "ae_incidence", columns, rows,
      sel.name + (sel.prev ? " (beside it the " + sel.prev.name + ")" : "") +
      ". Each panel has its own scale. Person-years are rounded to " + D.personTimeUnit +
      " and withheld where the events are suppressed or few patients are at risk (the rate " +
      "with them). A sum over start years that takes in a suppressed year is withheld.");
  }
  buildFilters(document.getElementById("client-filters"), draw);
  draw();
  window.addEventListener("resize", () => { clearTimeout(window._trsResize); window._trsResize = setTimeout(draw, 200); });
})();
"""

# ANC page (issue 16): abnormal results per month with the action the guideline requires, the
# week-band shares, the category totals and the time to action, computed in the page from its
# aggregate tables; every chart follows the page's shared filter (site, period, previous period).
ANC_JS = r"""
(function () {
  const F = FILTER, D = F.D;
  const R = F.index(D.results.rows, 3);
  const colours = {severe: "#e63946", moderate_or_severe: "#c1121f", moderate: "#f4a261",
    mild_or_worse: "#bc6c25", mild: "#e9c46a", mild_or_normal: "#8d99ae"};
  function selected() {
    const sel = F.current();
    const all = document.getElementById("filter-mode").value === "all";
    // The week-band tables are published per calendar year (and all time): a selection is
    // widened to the whole calendar years it touches, and the charts say so.
    const first = Math.floor(sel.a / 12), last = Math.floor(sel.b / 12), years = [];
    for (let y = first; y <= last; y++) { years.push(String(y)); }
    const widened = !all && (sel.a !== first * 12 || sel.b !== last * 12 + 11);
    const yearName = all ? "all time" : years.length === 1 ? years[0] : years[0] + "\u2013" + years[years.length - 1];
    return {site: sel.site === "" ? -1 : D.sites.indexOf(sel.site), siteName: sel.site || "all sites",
            months: F.monthIndexes(sel.a, sel.b), name: sel.name,
            prev: sel.prev ? {months: F.monthIndexes(sel.prev.a, sel.prev.b), name: sel.prev.name} : null,
            years: (all ? WK.years : years).map(y => WK.years.indexOf(y)).filter(i => i >= 0),
            all: all,
            yearName: yearName + (widened ? " (the whole calendar years of " + sel.name + ")" : "")};
  }
  function cell(site, m, k) {
    const row = R.get([site, m, k].join("|"));
    return F.total([row ? row[3] : 0]);
  }
  function message(layout, text) {
    layout.annotations = [{text: text, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5}];
  }
  // Share of each category per treatment week band: cells of the protected results table
  // (site x year x band x category, protected with the months of the year), summed over the
  // selected years; a band's N is the sum of its categories, so a band with a suppressed
  // category is withheld as a whole (nothing can be subtracted from it).
  const WK = D.weeks, WR = F.index(WK.rows, 4);
  const weekColours = {normal: "#2a9d8f", mild: "#e9c46a", moderate: "#f4a261", severe: "#e63946"};
  function summed(index, site, periods, b, c) {
    // One cell summed over the selected years or months (suppressed if any of them is).
    const codes = [];
    for (const p of periods) {
      const row = index.get([site, p, b, c].join("|"));
      if (row) { codes.push(row[4]); }
    }
    return F.total(codes);
  }
  function weeks(sel) {
    const present = new Set();
    for (const r of WK.rows) {
      if (r[0] === sel.site && sel.years.includes(r[1]) && r[2] >= 0) { present.add(r[2]); }
    }
    const bands = [...present].sort((a, b) => a - b);
    const labels = bands.map(b => WK.bands[b]);
    const n = WK.categories.map((_, c) => bands.map(b => summed(WR, sel.site, sel.years, b, c)));
    // The band's N: its categories added up (suppressed when any of them is).
    const N = bands.map((b, j) => n.some(list => list[j].v === null)
      ? {v: null, label: "suppressed"} : F.total(n.map(list => list[j].v)));
    const traces = [], rows = [];
    WK.categories.forEach((category, c) => {
      const shares = bands.map((b, j) => F.share(n[c][j], N[j]));
      traces.push({type: "bar", x: labels, y: shares.map(s => s.pct === null ? null : +s.pct.toFixed(1)),
        name: category, marker: {color: weekColours[category] || "#6c757d"},
        customdata: shares.map(s => s.n.label + " / " + s.d.label), text: shares.map(s => s.text),
        textposition: "none",
        hovertemplate: "week %{x}: %{text} (%{customdata} of the band's results)<extra>" + category + "</extra>"});
      bands.forEach((b, j) => {
        rows.push([labels[j], category, n[c][j].label, N[j].label, shares[j].text]);
      });
    });
    const withheld = N.map(t => t.v === null);
    if (withheld.some(w => w)) {
      traces.push({type: "bar", x: labels, y: withheld.map(w => (w ? 100 : null)), name: "withheld",
        marker: {color: "#dee2e6"}, hoverinfo: "skip"});
    }
    const layout = TRS.fitLayout({barmode: "stack",
      xaxis: {type: "category", title: {text: "week of clozapine treatment"}},
      yaxis: {title: {text: "% of the week band's ANC results"}, range: [0, 100]}}, 420);
    if (!bands.length) {
      message(layout, "No ANC results in this selection.");
      traces.push({type: "bar", x: ["no results"], y: [0], name: "no results", hoverinfo: "skip"});
    }
    Plotly.react(document.getElementById("chart-anc_categories_by_week"), traces, layout,
      TRS.plotConfig());
    TRS.table(document.getElementById("table-anc_categories_by_week"), "anc_categories_by_week",
      ["week band", "ANC category", "results (n)", "band's results (N)", "share of the band"],
      rows.length ? rows : [["no results", "", "0", "0", "no data"]],
      sel.siteName + ", " + sel.yearName + ". Published per calendar year; a band with a " +
      "suppressed category is withheld as a whole.");
  }
  // Results (the all-weeks cells) and distinct patients per category, on a log axis.
  const PR = F.index(D.categoryPatients.rows, 3);
  function totals(sel) {
    const results = WK.categories.map((_, c) => summed(WR, sel.site, sel.years, -1, c));
    // Distinct patients do not add up over years: shown for one calendar year or all time.
    const one = sel.all || sel.years.length === 1;
    const patients = WK.categories.map((_, c) => {
      if (!one) { return {v: null, label: "one year or all time only"}; }
      const row = PR.get([sel.site, sel.all ? -1 : sel.years[0], c].join("|"));
      return F.total([row ? row[3] : 0]);
    });
    const keep = WK.categories.map((_, c) => results[c].v !== 0);
    const cats = WK.categories.filter((_, c) => keep[c]);
    const pick = list => list.filter((_, c) => keep[c]);
    const traces = [["results", pick(results), "#457b9d"], ["patients", pick(patients), "#1d3557"]]
      .map(([name, counts, colour]) => ({type: "bar", x: cats, name: name,
        y: counts.map(t => (t.v ? t.v : null)), text: counts.map(t => t.label),
        textposition: "none", marker: {color: colour},
        hovertemplate: "%{x}: %{text} " + name + "<extra></extra>"}));
    const layout = TRS.fitLayout({barmode: "group", xaxis: {type: "category"},
      yaxis: {type: "log", title: {text: "count (log scale)"}}}, 380);
    if (!cats.length) {
      message(layout, "No ANC results in this selection.");
      traces[0].x = ["no results"]; traces[0].y = [0];
      layout.yaxis.type = "linear";
    }
    Plotly.react(document.getElementById("chart-anc_category_totals"), traces, layout,
      TRS.plotConfig());
    TRS.table(document.getElementById("table-anc_category_totals"), "anc_category_totals",
      ["ANC category", "results (n)", "patients (n)"],
      cats.length ? cats.map((c, i) => [c, pick(results)[i].label, pick(patients)[i].label])
        : [["no results", "0", "0"]],
      sel.siteName + ", " + sel.yearName + ". Published per calendar year; a patient counts " +
      "once in each category.");
  }
  // Time from a moderate or severe ANC requiring interruption to stopping clozapine: episodes
  // per bin and severity summed over the selected months (suppressed if any month is).
  const A = D.action, AR = A && A.rows ? F.index(A.rows, 4) : null;
  const severityColours = {moderate: "#f4a261", severe: "#e63946"};
  function action(sel) {
    const el = document.getElementById("chart-time_to_action");
    if (!AR) {
      Plotly.purge(el);
      el.classList.remove("plot");
      el.classList.add("unavailable");
      el.textContent = "Not available in this warehouse yet: " + A.unavailable;
      document.getElementById("table-time_to_action").textContent = "";
      return;
    }
    const periods = [[sel.name, sel.months, ""]];
    if (sel.prev) { periods.push([sel.prev.name, sel.prev.months, "previous"]); }
    const traces = [];
    const counts = periods.map(([, months]) =>
      A.severities.map((_, c) => A.bins.map((_, b) => summed(AR, sel.site, months, b, c))));
    periods.forEach(([name, , tag], p) => {
      A.severities.forEach((severity, c) => {
        const list = counts[p][c];
        traces.push({type: "bar", x: A.bins, y: list.map(t => t.v), name: "first " + severity +
          " ANC" + (tag ? " (" + name + ")" : ""), offsetgroup: tag + severity,
          marker: {color: severityColours[severity], opacity: tag ? 0.35 : 1},
          text: list.map(t => t.label), textposition: "outside", cliponaxis: false,
          hovertemplate: "%{x}: %{text} episodes<extra>" + severity + (tag ? ", previous" : "") + "</extra>"});
        const hidden = A.bins.map((b, i) => (list[i].v === null ? i : -1)).filter(i => i >= 0);
        if (hidden.length) {  // a suppressed count is labelled at the axis, never drawn
          traces.push({type: "bar", x: hidden.map(i => A.bins[i]), y: hidden.map(() => 0),
            offsetgroup: tag + severity, text: hidden.map(i => list[i].label),
            textposition: "outside", cliponaxis: false, showlegend: false, hoverinfo: "skip",
            name: "suppressed", marker: {color: severityColours[severity]}});
        }
      });
    });
    const layout = TRS.fitLayout({barmode: "group",
      xaxis: {type: "category", title: {text: "days from the result to the last day of clozapine"}},
      yaxis: {title: {text: "clozapine episodes"}, rangemode: "tozero"}}, 420);
    const any = counts[0].some(list => list.some(t => t.v !== 0));
    if (!any) { message(layout, "No moderate or severe ANC requiring interruption in this selection."); }
    Plotly.react(el, traces, layout, TRS.plotConfig());
    const columns = ["days to action", "first moderate ANC: episodes (n)", "first severe ANC: episodes (n)"];
    if (sel.prev) { columns.push("previous period: moderate (n)", "previous period: severe (n)"); }
    const rows = A.bins.map((bin, b) => {
      const row = [bin, counts[0][0][b].label, counts[0][1][b].label];
      if (sel.prev) { row.push(counts[1][0][b].label, counts[1][1][b].label); }
      return row;
    });
    TRS.table(document.getElementById("table-time_to_action"), "time_to_action", columns, rows,
      sel.siteName + ", " + sel.name + ". Target: within " + A.actionDays +
      " days. A sum over months that takes in a suppressed month is suppressed.");
  }
  function draw() {
    const sel = selected();
    weeks(sel);
    totals(sel);
    action(sel);
    const x = sel.months.map(m => D.months[m]);
    const traces = [], rows = [];
    const all = sel.months.map(m => cell(sel.site, m, -1));
    D.categories.forEach(([category, act], k) => {
      const counts = sel.months.map(m => cell(sel.site, m, k));
      traces.push({type: "scatter", mode: "lines+markers", x: x, y: counts.map(c => c.v),
        name: category.replace(/_/g, " "), text: counts.map(c => c.label),
        line: {color: colours[category] || "#6c757d", width: category === "severe" ? 3 : 1.5},
        marker: {size: 5}, customdata: counts.map(() => act),
        hovertemplate: "%{x}: %{text} results<br>required: %{customdata}<extra>" +
          category.replace(/_/g, " ") + "</extra>"});
      sel.months.forEach((m, j) => {
        const share = F.share(counts[j], all[j]);
        rows.push([D.months[m], category.replace(/_/g, " "), act, counts[j].label,
                   all[j].label, share.text]);
      });
    });
    const layout = TRS.fitLayout({xaxis: {type: "category", title: {text: "month of the result"}},
      yaxis: {title: {text: "ANC results"}, rangemode: "tozero"}}, 420);
    const el = document.getElementById("chart-anc_abnormal_by_month");
    Plotly.react(el, traces.length ? traces : [{type: "scatter", x: x, y: x.map(() => 0),
      mode: "lines", name: "no abnormal results", line: {color: "#2a9d8f"}}], layout,
      TRS.plotConfig());
    TRS.table(document.getElementById("table-anc_abnormal_by_month"), "anc_abnormal_by_month",
      ["month", "ANC category", "required action", "results (n)", "all ANC results (N)",
       "share of the month's results"], rows,
      sel.siteName + ", " + sel.name + ". Suppressed months are gaps in the line and labelled here.");
  }
  F.build(document.getElementById("client-filters"), draw);
  draw();
  window.addEventListener("resize", () => { clearTimeout(window._trsAnc); window._trsAnc = setTimeout(draw, 200); });
})();
"""

# The funnel page: state at the as-of date, so a site filter only (no time axis).
FUNNEL_JS = r"""
(function () {
  const D = JSON.parse(document.getElementById("page-data").textContent);
  const SMALL = D.smallLabel;
  const C = new Map(D.counts.rows.map(r => [r[0] + "|" + r[1], r[2]]));
  const label = v => (v === -1 ? SMALL : v === -2 ? "withheld" : v.toLocaleString("en"));
  const host = document.getElementById("client-filters");
  host.innerHTML = '<label id="label-site">Site <select id="filter-site"></select></label>' +
    '<p class="note" id="filter-summary"></p>';
  const select = document.getElementById("filter-site");
  for (const [v, t] of [["", "all sites"], ...D.sites.map(s => [s, s])]) {
    const o = document.createElement("option"); o.value = v; o.textContent = t; select.appendChild(o);
  }
  function cells(site, kind) {
    // [{name, v (embedded code or count), shown (count or null)}] of one kind, in order.
    const s = site === "" ? -1 : D.sites.indexOf(site);
    const out = [];
    D.keys.forEach(([k, name], i) => {
      if (k !== kind) { return; }
      const v = C.has(s + "|" + i) ? C.get(s + "|" + i) : 0;
      out.push({name: name, v: v, shown: v >= 0 ? v : null, label: label(v)});
    });
    return out;
  }
  function bars(id, rows, colour, horizontal, extra) {
    const names = rows.map(r => r.name), values = rows.map(r => r.shown);
    const text = rows.map(r => r.label + (r.note ? " (" + r.note + ")" : ""));
    const bar = horizontal
      ? {type: "bar", orientation: "h", y: names, x: values}
      : {type: "bar", x: names, y: values};
    Object.assign(bar, {text: text, textposition: "auto", cliponaxis: false,
      marker: {color: colour}, hovertemplate: "%{" + (horizontal ? "y" : "x") + "}: %{text}<extra></extra>",
      name: "patients"});
    const hidden = rows.filter(r => r.shown === null);
    const traces = [bar];
    if (hidden.length) {
      // A suppressed count is labelled where its bar would start, never drawn to a length.
      const mark = {type: "scatter", mode: "text", text: hidden.map(r => r.label),
        textposition: horizontal ? "middle right" : "top center", showlegend: false,
        hoverinfo: "skip", name: "suppressed"};
      if (horizontal) { mark.y = hidden.map(r => r.name); mark.x = hidden.map(() => 0); }
      else { mark.x = hidden.map(r => r.name); mark.y = hidden.map(() => 0); }
      traces.push(mark);
    }
    const layout = horizontal
      ? {yaxis: {autorange: "reversed", automargin: true}, xaxis: {title: {text: "patients"}, rangemode: "tozero"},
         showlegend: false}
      : {yaxis: {title: {text: "patients"}, rangemode: "tozero"}, xaxis: {automargin: true}, showlegend: false};
    Plotly.react(document.getElementById("chart-" + id), traces,
      TRS.fitLayout(layout, 120 + 45 * rows.length), TRS.plotConfig());
    TRS.table(document.getElementById("table-" + id), id, extra.columns,
      rows.map(extra.row), extra.note);
  }
  function draw() {
    const site = select.value;
    document.getElementById("filter-summary").textContent =
      "Showing " + (site || "all sites") + ", at the as-of date.";
    const steps = cells(site, "funnel");
    steps.forEach((r, i) => {
      const before = i > 0 ? steps[i - 1].shown : null;
      r.pct = i > 0 && r.shown !== null && before ? (100 * r.shown / before).toFixed(1) + " %" : "";
      r.note = r.pct ? r.pct + " of previous" : "";
    });
    bars("cohort_funnel", steps, "#457b9d", true, {
      columns: ["step", "patients (n)", "previous step (N)", "% of previous step"],
      row: (r, i) => [r.name, r.label, i > 0 ? steps[i - 1].label : "", r.pct],
      note: "A percentage is shown only when both counts are."});
    bars("funnel_asides", cells(site, "aside"), "#e76f51", true, {
      columns: ["group", "patients (n)"], row: r => [r.name, r.label], note: ""});
    bars("clozapine_status", cells(site, "status"), "#2a9d8f", false, {
      columns: ["clozapine status", "patients (n)"], row: r => [r.name, r.label], note: ""});
  }
  select.addEventListener("change", draw);
  draw();
  window.addEventListener("resize", () => { clearTimeout(window._trsResize); window._trsResize = setTimeout(draw, 200); });
})();
"""

# The quality-indicators page: rates summed over the selected months, with the Wilson interval
# recomputed from the summed n and N (the formula of trscohort.qi.wilson and the mart).
QI_JS = r"""
const QI = (function () {
  function wilson(n, N, z) {
    if (N <= 0) { return null; }
    const p = n / N, z2n = z * z / N;
    const centre = (p + z2n / 2) / (1 + z2n);
    const half = z / (1 + z2n) * Math.sqrt(p * (1 - p) / N + z2n / (4 * N));
    return [Math.max(0, Math.min(p, centre - half)), Math.min(1, Math.max(p, centre + half))];
  }
  return {wilson};
})();
(function () {
  if (!document.getElementById("page-data")) { return; }
  const F = FILTER, D = F.D;
  const R = F.index(D.counts.rows, 4);
  const V = F.index(D.values.rows, 2);
  const siteIdx = s => (s === "" ? -1 : D.sites.indexOf(s));
  const pctLevel = Math.round(100 * D.level * 10) / 10;
  function rate(site, monthIdx, ind, stratum) {
    // Numerator, denominator and excluded summed over the months (suppressed if any month is),
    // the rate only when both counts are shown, with its Wilson interval.
    const n = [], d = [], x = [];
    for (const m of monthIdx) {
      const row = R.get([siteIdx(site), m, ind, stratum].join("|"));
      if (row) { n.push(row[4]); d.push(row[5]); x.push(row[6]); }
    }
    const s = F.share(F.total(n), F.total(d));
    s.excluded = F.total(x);
    s.ci = s.pct === null ? null : QI.wilson(s.n.v, s.d.v, D.z);
    s.ciText = s.ci ? (100 * s.ci[0]).toFixed(1) + "-" + (100 * s.ci[1]).toFixed(1) : "";
    s.long = s.pct === null ? (s.d.v === 0 ? "no units" : "withheld (denominator " + s.d.label + ")")
      : s.text + " (" + pctLevel + " % CI " + s.ciText + "; " + s.n.label + " of " + s.d.label + ")";
    return s;
  }
  const y = s => (s.pct === null ? null : +s.pct.toFixed(2));
  function marks(labels, list, horizontal) {
    // Where a rate is withheld: its label at the axis, never a bar of some length.
    const at = list.map((s, i) => [labels[i], s]).filter(([, s]) => s.pct === null);
    const text = at.map(([, s]) => (s.d.v === 0 ? "no units" : "withheld"));
    const cats = at.map(([l]) => l), zeros = at.map(() => 0);
    return {type: "scatter", mode: "text", text: text, showlegend: false, hoverinfo: "skip",
      name: "suppressed", textposition: horizontal ? "middle right" : "top center",
      x: horizontal ? zeros : cats, y: horizontal ? cats : zeros, textfont: {color: "#6c757d"}};
  }
  const errs = list => ({type: "data", array: list.map(s => (s.ci ? +(100 * s.ci[1] - s.pct).toFixed(2) : null)),
    arrayminus: list.map(s => (s.ci ? +(s.pct - 100 * s.ci[0]).toFixed(2) : null)), color: "#1d3557"});
  function median(site, ind, sel) {
    if (sel.a > F.ym(D.months[0] || "0000-01") || sel.b < F.ym(D.months[D.months.length - 1] || "0000-01")) {
      return "";  // a median cannot be summed over months: all time only
    }
    const row = V.get([siteIdx(site), ind].join("|"));
    if (!row) { return ""; }
    if (row[2] < 0) { return "withheld (" + F.label(row[2]) + " values)"; }
    const f = v => Number(v.toPrecision(4));
    return f(row[3]) + " (" + f(row[4]) + "-" + f(row[5]) + "; n = " + row[2].toLocaleString("en") + ")";
  }
  function overview(sel) {
    const months = F.monthIndexes(sel.a, sel.b);
    const prev = sel.prev ? F.monthIndexes(sel.prev.a, sel.prev.b) : [];
    const inds = D.indicators.map((d, i) => ({d: d, now: rate(sel.site, months, i, 0),
      before: rate(sel.site, prev, i, 0)}));
    const labels = inds.map(x => x.d.id);
    const traces = [{type: "bar", orientation: "h", y: labels, x: inds.map(x => y(x.now)),
      error_x: Object.assign(errs(inds.map(x => x.now))), name: sel.name, marker: {color: "#457b9d"},
      text: inds.map(x => x.now.pct === null ? x.now.long.split(" (")[0] : x.now.text),
      textposition: "outside", cliponaxis: false, customdata: inds.map(x => x.now.long),
      hovertemplate: "%{y}: %{customdata}<extra></extra>"}];
    traces[0].error_x.visible = true;
    traces.push(marks(labels, inds.map(x => x.now), true));
    if (sel.prev) {
      traces.push({type: "bar", orientation: "h", y: labels, x: inds.map(x => y(x.before)),
        name: sel.prev.name, marker: {color: "#adb5bd"}, customdata: inds.map(x => x.before.long),
        hovertemplate: "%{y}: %{customdata}<extra>previous</extra>"});
    }
    const layout = TRS.fitLayout({barmode: "group", yaxis: {autorange: "reversed", automargin: true},
      xaxis: {title: {text: "% of the denominator (" + pctLevel + " % Wilson interval)"}, range: [0, 112]}},
      120 + 36 * labels.length * (sel.prev ? 1.6 : 1));
    Plotly.react(document.getElementById("chart-qi_overview"), traces, layout, TRS.plotConfig());
    const columns = ["indicator", "title", "numerator (n)", "denominator (N)", "rate %",
      pctLevel + " % CI", "excluded (n)", "value: median (IQR)", "better", "version"];
    if (sel.prev) { columns.push("previous n / N", "previous rate %", "change (points)"); }
    const rows = inds.map((x, i) => {
      const r = [x.d.id, x.d.title, x.now.n.label, x.now.d.label, x.now.pct === null ? x.now.text : x.now.pct.toFixed(1),
        x.now.ciText, x.now.excluded.label, median(sel.site, i, sel), x.d.higherIsBetter ? "higher" : "lower",
        x.d.version];
      if (sel.prev) {
        r.push(x.before.n.label + " / " + x.before.d.label,
          x.before.pct === null ? x.before.text : x.before.pct.toFixed(1),
          x.now.pct !== null && x.before.pct !== null ? (x.now.pct - x.before.pct).toFixed(1) : "");
      }
      return r;
    });
    TRS.table(document.getElementById("table-qi_overview"), "qi_overview", columns, rows,
      "Sums over months; a sum that includes a suppressed month is suppressed, and a rate needs both counts shown.");
  }
  function byMonth(i, sel) {
    const d = D.indicators[i], id = "qi_" + d.slug + "_by_month";
    const el = document.getElementById("chart-" + id);
    if (!el) { return; }
    const months = F.monthIndexes(sel.a, sel.b).filter(m => R.has([siteIdx(sel.site), m, i, 0].join("|")));
    const cells = months.map(m => rate(sel.site, [m], i, 0));
    const x = months.map(m => D.months[m]);
    const traces = [{type: "bar", x: x, y: cells.map(s => s.d.v), name: "denominator",
      marker: {color: "#a8dadc"}, text: cells.map(s => s.d.label), textposition: "none",
      hovertemplate: "%{x}: %{text} in the denominator<extra></extra>"},
      {type: "scatter", mode: "lines+markers", x: x, y: cells.map(y), yaxis: "y2", connectgaps: false,
       line: {color: "#1d3557"}, error_y: errs(cells), customdata: cells.map(s => s.long),
       hovertemplate: "%{x}: %{customdata}<extra></extra>",
       name: "rate (" + pctLevel + " % Wilson interval)"}];
    const layout = TRS.fitLayout({xaxis: {type: "category", title: {text: "month"}},
      yaxis: {title: {text: "denominator"}, rangemode: "tozero"},
      yaxis2: {title: {text: "%"}, overlaying: "y", side: "right", range: [0, 105], showgrid: false}}, 380);
    if (!months.length) {
      layout.annotations = [{text: "Nobody in this selection (unit: " + d.unit + ").", x: 0.5, y: 0.5,
        xref: "paper", yref: "paper", showarrow: false, font: {size: 14, color: "#6c757d"}}];
      traces[0].x = ["no months"]; traces[0].y = [0]; traces[0].text = ["0"];
      traces[1].x = []; traces[1].y = [];
    }
    Plotly.react(el, traces, layout, TRS.plotConfig());
    TRS.table(document.getElementById("table-" + id), id,
      ["month", "numerator (n)", "denominator (N)", "rate %", pctLevel + " % CI", "excluded (n)"],
      cells.length ? cells.map((s, j) => [x[j], s.n.label, s.d.label, s.pct === null ? s.text : s.pct.toFixed(1),
        s.ciText, s.excluded.label]) : [[sel.name, "0", "0", "no units", "", "0"]],
      (d.higherIsBetter ? "Higher" : "Lower") + " is better. A withheld month is a gap in the line.");
  }
  function byStratum(i, sel) {
    const d = D.indicators[i], id = "qi_" + d.slug + "_by_stratum";
    const el = document.getElementById("chart-" + id);
    if (!el) { return; }
    const months = F.monthIndexes(sel.a, sel.b);
    const prev = sel.prev ? F.monthIndexes(sel.prev.a, sel.prev.b) : [];
    const strata = D.strata.map((s, j) => j).filter(j => j > 0
      && D.counts.rows.some(r => r[2] === i && r[3] === j));
    const now = strata.map(j => rate(sel.site, months, i, j));
    const before = strata.map(j => rate(sel.site, prev, i, j));
    const names = strata.map(j => D.strata[j]);
    const traces = [{type: "bar", x: names.length ? names : ["no strata"], y: names.length ? now.map(y) : [0],
      error_y: errs(now), name: sel.name, marker: {color: "#1d3557"},
      text: now.map(s => (s.pct === null ? s.text : s.pct.toFixed(1) + " %")), textposition: "outside",
      cliponaxis: false, customdata: now.map(s => s.long), hovertemplate: "%{x}: %{customdata}<extra></extra>"}];
    if (names.length) { traces.push(marks(names, now, false)); }
    if (sel.prev) {
      traces.push({type: "bar", x: names, y: before.map(y), name: sel.prev.name, marker: {color: "#adb5bd"},
        customdata: before.map(s => s.long), hovertemplate: "%{x}: %{customdata}<extra>previous</extra>"});
    }
    const layout = TRS.fitLayout({barmode: "group", yaxis: {title: {text: "% of the denominator"}, range: [0, 112]},
      xaxis: {automargin: true}}, 380);
    Plotly.react(el, traces, layout, TRS.plotConfig());
    const columns = ["stratum", "numerator (n)", "denominator (N)", "rate %", pctLevel + " % CI"];
    if (sel.prev) { columns.push("previous n / N", "previous rate %"); }
    TRS.table(document.getElementById("table-" + id), id, columns, now.map((s, j) => {
      const r = [names[j], s.n.label, s.d.label, s.pct === null ? s.text : s.pct.toFixed(1), s.ciText];
      if (sel.prev) {
        r.push(before[j].n.label + " / " + before[j].d.label,
          before[j].pct === null ? before[j].text : before[j].pct.toFixed(1));
      }
      return r;
    }), "Each stratum's numerator against the same kind of denominator.");
  }
  const draw = () => {
    const sel = F.current();
    overview(sel);
    D.indicators.forEach((d, i) => { byMonth(i, sel); byStratum(i, sel); });
  };
  F.build(document.getElementById("client-filters"), draw);
  draw();
  window.addEventListener("resize", () => { clearTimeout(window._trsResize); window._trsResize = setTimeout(draw, 200); });
})();
"""
