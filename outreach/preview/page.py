"""The preview page staff look at while writing: the mail at phone and desktop width, the text part,
the headers and the size, or the mistakes to fix; plus the small document a frame shows on error.

The template lives here rather than in templates/ (which holds email layouts) and in Python rather
than a data file so it always ships with the package. Autoescape is on: issue text is data.
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2

from outreach.preview.mail import GMAIL_CLIP_BYTES, WARN_BYTES, Failure, Rendered, SampleMail, SampleReader

PHONE_WIDTH = 375
DESKTOP_WIDTH = 640

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{% if mail %}{{ mail.subject }}{% else %}Needs a fix{% endif %} · outreach preview</title>
<style>
  :root { --ink: #26323a; --muted: #5b6770; --line: #d9d4cc; --paper: #f4f1ec; --teal: #1d4e56;
          --ok: #2e6b3a; --warn: #8a5a00; --warn-bg: #fff4d6; --bad: #a12a1a; --bad-bg: #fdecea; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial,
         sans-serif;
         color: var(--ink); background: var(--paper); }
  header { background: var(--teal); color: #fff; padding: 18px 28px; }
  header h1 { margin: 0; font-size: 22px; font-weight: 600; }
  header .preheader { margin: 4px 0 0; opacity: .85; }
  header .meta { margin: 10px 0 0; font-size: 13px; opacity: .8; }
  main { padding: 20px 28px 40px; }
  .bar { display: flex; flex-wrap: wrap; gap: 10px 18px; align-items: center; margin-bottom: 18px; }
  .bar a { color: var(--teal); }
  .size { padding: 3px 10px; border-radius: 999px; font-weight: 600; background: #e3efe5;
          color: var(--ok); }
  .size.warning { background: var(--warn-bg); color: var(--warn); }
  .size.clipped { background: var(--bad-bg); color: var(--bad); }
  .live { font-size: 13px; color: var(--muted); }
  .reader { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: center; margin-bottom: 18px; }
  .frames { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
  figure { margin: 0; }
  figcaption { font-weight: 600; margin-bottom: 6px; }
  iframe { display: block; box-sizing: content-box; border: 1px solid var(--line); background: #fff;
           height: 900px; border-radius: 6px; }
  section { margin-top: 30px; }
  h2 { font-size: 17px; margin: 0 0 8px; color: var(--teal); }
  pre { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 14px 16px;
        white-space: pre-wrap; overflow-wrap: anywhere;
        font: 13px/1.5 ui-monospace, Menlo, Consolas, monospace; max-width: 80ch; }
  table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
  th, td { text-align: left; vertical-align: top; padding: 6px 12px;
           border-top: 1px solid var(--line); }
  th { white-space: nowrap; font-weight: 600; }
  td { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px;
       overflow-wrap: anywhere; }
  .problems { background: var(--bad-bg); border: 2px solid var(--bad); border-radius: 8px;
              padding: 16px 22px; max-width: 900px; }
  .problems h2 { color: var(--bad); }
  .problems li { margin: 6px 0; }
  .problems code { font-weight: 600; }
  .hint { color: var(--muted); }
  .findings { background: #fff; border: 1px solid var(--line); border-radius: 8px;
              padding: 12px 20px; margin-bottom: 18px; max-width: 900px; }
  .findings h2 { margin-bottom: 4px; }
  .findings li { margin: 4px 0; }
  .findings .error { color: var(--bad); font-weight: 600; }
  .findings .warning { color: var(--warn); font-weight: 600; }
</style>
</head>
<body data-version="{{ version }}">
<header>
  {% if mail %}
  <h1>{{ mail.subject }}</h1>
  {% if mail.preheader %}<p class="preheader">{{ mail.preheader }}</p>{% endif %}
  <p class="meta">{{ issue_name }} · shown as {{ mail.recipient }} would see it</p>
  {% else %}
  <h1>{{ issue_name }}</h1>
  <p class="meta">The preview will come back as soon as the file is fixed and saved.</p>
  {% endif %}
</header>
<main>
  <div class="bar">
    {% if mail %}
    <span class="size {{ mail.size_level }}" title="Gmail clips mail over {{ clip_kb }} KB, \
hiding the footer and the unsubscribe link">HTML {{ '%.1f' % mail.html_kb }} KB
      {%- if mail.size_level == 'clipped' %}: over Gmail's {{ clip_kb }} KB, it will be clipped
      {%- elif mail.size_level == 'warning' %}: close to Gmail's {{ clip_kb }} KB limit
      {%- else %} of Gmail's {{ clip_kb }} KB limit{% endif %}</span>
    <a href="/mail.html?{{ reader.query }}" target="_blank">Open the HTML</a>
    <a href="/mail.txt?{{ reader.query }}" target="_blank">Open the text</a>
    <a href="/mail.eml?{{ reader.query }}">Download the .eml</a>
    {% endif %}
    <span class="live" id="live">Reloads by itself when you save.</span>
  </div>
  {% if choices %}
  <form class="reader" method="get" action="/" aria-label="Show the mail as another reader sees it">
    <span>Show it as a reader whose</span>
    <label>role is <select name="role"><option value="">(the sample reader's)</option>
      {% for key, label in choices.roles %}
      <option value="{{ key }}"{% if key == reader.role %} selected{% endif %}>{{ label }}</option>
      {% endfor %}
    </select></label>
    <label>language is <select name="language"><option value="">(the sample reader's)</option>
      {% for key, label in choices.languages %}
      <option value="{{ key }}"{% if key == reader.language %} selected{% endif %}>{{ label }}</option>
      {% endfor %}
    </select></label>
    <label>topic is <select name="topic"><option value="">(none)</option>
      {% for key, label in choices.topics %}
      <option value="{{ key }}"{% if key in reader.topics %} selected{% endif %}>{{ label }}</option>
      {% endfor %}
    </select></label>
    <button type="submit">Show</button>
  </form>
  {% endif %}
  {% if failure %}
  <div class="problems" role="alert">
    {% if failure.unexpected %}
    <h2>The preview hit a problem</h2>
    {% for problem in failure.problems %}<p>{{ problem.message }}</p>{% endfor %}
    <p class="hint">The details are in the window running <code>outreach preview</code>.</p>
    {% else %}
    <h2>This issue needs a fix before it can be shown</h2>
    <ul>
      {% for problem in failure.problems %}
      <li>{% if problem.where %}<code>{{ problem.where }}</code>: {% endif -%}
        {{ problem.message }}</li>
      {% endfor %}
    </ul>
    <p class="hint">Fix the file and save it; this page reloads by itself.</p>
    {% endif %}
  </div>
  {% else %}
  {% if mail.findings %}
  <section class="findings" aria-labelledby="findings-title">
    <h2 id="findings-title">What <code>outreach check</code> says</h2>
    <ul>
      {% for finding in mail.findings %}
      <li><span class="{{ finding.severity }}">{{ finding.severity }}</span>
        {% if finding.where %}<code>{{ finding.where }}</code>:{% endif %} {{ finding.message }}</li>
      {% endfor %}
    </ul>
  </section>
  {% endif %}
  <div class="frames">
    <figure>
      <figcaption>Phone ({{ phone }} px)</figcaption>
      <iframe title="The mail at phone width" src="/mail.html?v={{ version }}&amp;{{ reader.query }}"
              width="{{ phone }}"
              style="width: {{ phone }}px" onload="fitFrame(this)"></iframe>
    </figure>
    <figure>
      <figcaption>Desktop ({{ desktop }} px)</figcaption>
      <iframe title="The mail at desktop width" src="/mail.html?v={{ version }}&amp;{{ reader.query }}"
              width="{{ desktop }}"
              style="width: {{ desktop }}px" onload="fitFrame(this)"></iframe>
    </figure>
  </div>
  <section>
    <h2>Text part</h2>
    <pre>{{ mail.text }}</pre>
  </section>
  <section>
    <h2>Headers</h2>
    <table>
      {% for name, value in mail.headers %}
      <tr><th scope="row">{{ name }}</th><td>{{ value }}</td></tr>
      {% endfor %}
    </table>
  </section>
  {% endif %}
</main>
<script>
  function fitFrame(frame) {
    try {
      frame.style.height = "200px";  /* shrink first: a document is never shorter than its frame */
      frame.style.height = frame.contentDocument.documentElement.scrollHeight + "px";
    } catch (e) { frame.style.height = "900px"; }
  }
  (function () {
    var key = "outreach-preview-scroll";
    window.addEventListener("load", function () {
      var y = sessionStorage.getItem(key);
      if (y !== null) { sessionStorage.removeItem(key); window.scrollTo(0, Number(y)); }
    });
    var live = document.getElementById("live");
    var seen = document.body.dataset.version;
    var source = new EventSource("/events?seen=" + encodeURIComponent(seen));
    source.onopen = function () { live.textContent = "Live: reloads by itself when you save."; };
    source.onerror = function () { live.textContent = "Lost the preview server; reconnecting…"; };
    source.addEventListener("reload", function () {
      sessionStorage.setItem(key, String(window.scrollY));
      source.close();
      window.location.reload();
    });
  })();
</script>
</body>
</html>
"""

_FRAME_ERROR = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Needs a fix</title></head>
<body style="font: 15px/1.5 system-ui, sans-serif; color: #a12a1a; padding: 16px;">
<p><strong>This issue can't be shown yet.</strong></p>
<ul>
{% for problem in failure.problems %}
<li>{% if problem.where %}<code>{{ problem.where }}</code>: {% endif %}{{ problem.message }}</li>
{% endfor %}
</ul>
</body>
</html>
"""

_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_page = _env.from_string(_PAGE)
_frame_error = _env.from_string(_FRAME_ERROR)


@dataclass(frozen=True)
class ReaderChoices:
    """What the sample reader can be switched to: (key, label) of the site's roles, languages, topics."""

    roles: tuple[tuple[str, str], ...] = ()
    languages: tuple[tuple[str, str], ...] = ()
    topics: tuple[tuple[str, str], ...] = ()


def preview_page(
    rendered: Rendered,
    issue_name: str,
    version: str,
    reader: SampleReader | None = None,
    choices: ReaderChoices | None = None,
) -> str:
    """The whole preview page for a rendered mail, or the problems to fix; ``reader`` is who the
    sample reader is switched to (``::: only`` sections), ``choices`` what it can be switched to."""
    mail = rendered if isinstance(rendered, SampleMail) else None
    failure = rendered if isinstance(rendered, Failure) else None
    return _page.render(
        mail=mail,
        failure=failure,
        issue_name=issue_name,
        version=version,
        phone=PHONE_WIDTH,
        desktop=DESKTOP_WIDTH,
        clip_kb=GMAIL_CLIP_BYTES // 1024,
        warn_kb=WARN_BYTES // 1024,
        reader=reader or SampleReader(),
        choices=choices,
    )


def frame_error(failure: Failure) -> str:
    """What a frame (or ``/mail.html`` opened alone) shows while the issue has mistakes."""
    return _frame_error.render(failure=failure)
