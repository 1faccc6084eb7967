/** The dashboard's style sheet, served as `/ui/app.css`: plain CSS, light and dark, no web fonts. */
export const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f7f7f8; --panel: #ffffff; --fg: #1c1e21; --muted: #667085; --line: #e3e5e8; --accent: #2f5fd0;
  --ok: #1f8a4c; --bad: #c8372d; --warn: #b7791f; --skip: #8a8f98; --run: #2f80ed; --chip: #eef1f5;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #16181c; --panel: #1e2126; --fg: #e6e8eb; --muted: #98a2b3; --line: #2d3139; --accent: #7aa2ff;
    --chip: #2a2e35; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: var(--chip); padding: 10px; border-radius: 6px; overflow: auto; white-space: pre-wrap; }
h1 { font-size: 20px; margin: 0 0 12px; }
h2 { font-size: 16px; margin: 20px 0 8px; }
.pad { padding: 24px; }
.muted { color: var(--muted); }
header.top { display: flex; align-items: center; gap: 18px; padding: 10px 24px; background: var(--panel);
  border-bottom: 1px solid var(--line); }
header.top .brand { font-weight: 700; }
header.top nav { display: flex; gap: 14px; flex: 1; }
header.top nav a.active { font-weight: 600; text-decoration: underline; }
main { padding: 20px 24px 48px; max-width: 1400px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px;
  margin-bottom: 16px; }
table { border-collapse: collapse; width: 100%; background: var(--panel); }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
tr.dst td { background: color-mix(in srgb, var(--warn) 12%, transparent); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: var(--chip); }
.badge.succeeded { background: var(--ok); color: #fff; }
.badge.failed, .badge.timed_out, .badge.abandoned, .badge.alert { background: var(--bad); color: #fff; }
.badge.running, .badge.queued { background: var(--run); color: #fff; }
.badge.skipped, .badge.interrupted { background: var(--skip); color: #fff; }
.badge.paused, .badge.warn { background: var(--warn); color: #fff; }
.strip { display: inline-flex; gap: 2px; vertical-align: middle; }
.strip a { display: inline-block; width: 8px; height: 16px; border-radius: 2px; background: var(--chip); }
.strip a.succeeded { background: var(--ok); }
.strip a.failed, .strip a.timed_out, .strip a.abandoned { background: var(--bad); }
.strip a.running, .strip a.queued { background: var(--run); }
.strip a.skipped, .strip a.interrupted { background: var(--skip); }
.row { display: flex; gap: 10px; align-items: end; flex-wrap: wrap; margin-bottom: 10px; }
.grid { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
.grid dt { color: var(--muted); }
.grid dd { margin: 0; }
label { display: flex; flex-direction: column; gap: 3px; font-size: 12px; color: var(--muted); }
label.inline { flex-direction: row; align-items: center; gap: 6px; color: var(--fg); font-size: 14px; }
input, select, textarea, button { font: inherit; color: var(--fg); background: var(--panel);
  border: 1px solid var(--line); border-radius: 6px; padding: 5px 8px; }
textarea { width: 100%; min-height: 90px; }
input[aria-invalid="true"], textarea[aria-invalid="true"], select[aria-invalid="true"] { border-color: var(--bad);
  outline: 2px solid color-mix(in srgb, var(--bad) 35%, transparent); }
button { cursor: pointer; background: var(--accent); color: #fff; border-color: var(--accent); }
a.button { display: inline-block; padding: 5px 10px; border-radius: 6px; background: var(--accent); color: #fff; }
a.button:hover { text-decoration: none; opacity: .9; }
button.secondary { background: var(--panel); color: var(--fg); border-color: var(--line); }
button.danger { background: var(--bad); border-color: var(--bad); }
button:disabled { opacity: .5; cursor: not-allowed; }
fieldset { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; margin: 0 0 12px; }
legend { color: var(--muted); padding: 0 6px; }
.form { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 10px 14px; }
.error { color: var(--bad); }
.notice { padding: 8px 12px; border-radius: 6px; margin-bottom: 12px; background: var(--chip); }
.notice.error { background: color-mix(in srgb, var(--bad) 14%, transparent); }
.notice.ok { background: color-mix(in srgb, var(--ok) 14%, transparent); }
.field-error { color: var(--bad); font-size: 12px; }
.login { max-width: 420px; margin: 12vh auto; }
.login input { width: 100%; }
.actions { display: flex; gap: 8px; flex-wrap: wrap; }
.nowrap { white-space: nowrap; }
.right { text-align: right; }
`
