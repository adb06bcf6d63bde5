/// The console's stylesheet and script, served by the binary itself so it works offline.
enum ConsoleAssets {
    static let css = """
        :root { --ink: #1d2530; --muted: #5b6776; --line: #d8dee6; --accent: #1463b8; --bad: #b3261e; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--ink); background: #f7f9fb; }
        nav { display: flex; gap: 1.2em; align-items: center; padding: .7em 1.5em; background: #16324f; }
        nav a { color: #e6eef7; text-decoration: none; }
        nav a.brand { font-weight: 700; font-size: 1.1em; margin-right: 1em; }
        main { padding: 1em 1.5em 3em; max-width: 1200px; }
        h1 { font-size: 1.5em; margin: .4em 0 .6em; }
        h2 { font-size: 1.1em; margin: 1.6em 0 .5em; }
        table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
        th, td { text-align: left; padding: .35em .8em; border-bottom: 1px solid var(--line); vertical-align: top; }
        thead th { background: #eef2f6; font-weight: 600; }
        pre.value { margin: 0; max-width: 50em; white-space: pre-wrap; word-break: break-word; font-size: 12px; }
        .stats { display: flex; gap: 2em; margin-bottom: 1em; }
        .stats .number { font-size: 1.6em; font-weight: 700; margin-right: .2em; }
        form label { display: block; margin: .4em 0; }
        form.inline label { display: inline-block; margin-right: 1em; }
        input, textarea, select { font: inherit; padding: .25em .4em; border: 1px solid var(--line); border-radius: 4px; }
        textarea { width: 40em; display: block; font-family: ui-monospace, monospace; }
        button { font: inherit; padding: .3em 1em; border: 0; border-radius: 4px; background: var(--accent); color: #fff; cursor: pointer; }
        button.danger { background: var(--bad); }
        .error { color: var(--bad); font-weight: 600; }
        .refused { color: var(--muted); font-style: italic; }
        nav .session { margin-left: auto; display: flex; gap: .8em; align-items: center; color: #e6eef7; }
        nav .session form { margin: 0; }
        nav .session button { background: transparent; border: 1px solid #e6eef7; padding: .15em .7em; }
        a { color: var(--accent); }
        """

    /// Asks before deleting, and on the overview shows records per second produced, from the
    /// `brook_produced_records_total` series of /metrics.
    static let javascript = """
        document.addEventListener('submit', function (event) {
          var message = event.target.getAttribute('data-confirm');
          if (message && !window.confirm(message)) event.preventDefault();
        });
        (function () {
          var shown = document.getElementById('throughput');
          if (!shown) return;
          var last = null;
          function total(text) {
            var sum = 0;
            text.split('\\n').forEach(function (line) {
              if (line.indexOf('brook_produced_records_total') === 0) sum += parseFloat(line.split(' ').pop());
            });
            return sum;
          }
          function sample() {
            fetch('/metrics').then(function (response) { return response.text(); }).then(function (text) {
              var now = { at: Date.now(), records: total(text) };
              if (last) shown.textContent = Math.round((now.records - last.records) * 1000 / Math.max(1, now.at - last.at));
              last = now;
            }).catch(function () {});
          }
          sample();
          setInterval(sample, 2000);
        })();
        """
}
