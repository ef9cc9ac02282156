"""One learner's session with one notebook, in headless Chromium.

Open the notebook, Edit > Clear Outputs of All Cells, Kernel > Restart Kernel and Run All Cells,
then look at what a person would see: did every cell run, is there a traceback or a broken
widget, did every bertviz view draw its tokens, does every slider move and redraw its plot.
Screenshots of all of it go to `shots`. Nothing here compares outputs with the saved notebook:
nbval does that.

JupyterLab traps met on the way, and why the code looks the way it does:
- the toolbar says "idle" before the kernel is ready; only the status bar's "Idle" is reliable
  (read with innerText: its textContent glues hidden labels on, "IdleUploading…");
- with the default windowing, off-screen cells have an empty innerText: read textContent;
- a plot can be replaced by a blank or half-drawn one, so a plot must have ink, not just change.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}
NOT_LOOPBACK = re.compile(r"^(https?|wss?)://(?!127\.0\.0\.1[:/])")
RAN = re.compile(r"^\[\d+\]:$")
RUN_TIMEOUT_S = 900
MIN_INK = 0.02          # share of non-white pixels below which a plot counts as blank
SHOT_HEIGHT = 3000      # the full notebook is shot in pieces this tall (Chromium caps textures)

# --- JavaScript run in the page ------------------------------------------------------------------
KERNEL_IDLE = """() => { const bar = document.querySelector('#jp-main-statusbar');
    return !!bar && /\\bIdle\\b/.test(bar.innerText)
        && !/No Kernel|Initializing|Starting|Restarting/.test(bar.innerText); }"""
PROMPTS = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
    .map(e => e.textContent.trim())"""
CELL_STATES = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].map(c => ({
    prompt: c.querySelector('.jp-InputPrompt').textContent.trim(),
    tracebacks: [...c.querySelectorAll(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(e => e.textContent).filter(t => /Traceback|\\w+Error\\b/.test(t))
        .map(t => t.slice(0, 600)),
    broken: [...c.querySelectorAll('.jp-OutputArea-child')].map(e => e.textContent)
        .filter(t => /Javascript Error|Error displaying widget|Failed to load model/.test(t))
        .map(t => t.slice(0, 300))}))"""
# every bertviz view in one frame (the page, or the <iframe srcdoc> of minillm.viz.show_bertviz)
# (model_view's thumbnails draw no tokens, only the "Heads"/"Layers" labels and the lines)
BERTVIZ_VIEWS = """() => [...document.querySelectorAll('div[id^="bertviz-"]')].map(d => ({
    svgs: d.querySelectorAll('svg').length,
    shapes: d.querySelectorAll('svg line, svg path, svg rect').length,
    tokens: [...new Set([...d.querySelectorAll('svg text')].map(t => t.textContent.trim()))]
        .filter(t => t).slice(0, 20)}))"""
LOAD_ERRORS = "() => [...document.querySelectorAll('.bertviz-load-error')].map(e => e.textContent)"
# a slider's value, and the widget plot nearest to it (interact() puts both in one output)
SLIDER_STATE = """async slider => {
    let img = null;
    for (let a = slider.parentElement; a && !img && !a.classList.contains('jp-Cell');
         a = a.parentElement) img = a.querySelector('.widget-output img');
    const readout = slider.querySelector('.widget-readout');
    const state = {readout: readout ? readout.textContent.trim() : null,
                   value: slider.querySelector('.noUi-handle').getAttribute('aria-valuenow'),
                   plot: null, ink: null};
    if (!img) return state;
    let h = 0;
    for (let i = 0; i < img.src.length; i++) h = (Math.imul(h, 31) + img.src.charCodeAt(i)) | 0;
    state.plot = `${img.src.length}:${h}`;
    await img.decode().catch(() => {});
    const c = document.createElement('canvas');
    c.width = img.naturalWidth || 1; c.height = img.naturalHeight || 1;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0);
    const px = g.getImageData(0, 0, c.width, c.height).data; let inked = 0;
    for (let i = 0; i < px.length; i += 4)
        if (px[i + 3] > 0 && (px[i] < 250 || px[i + 1] < 250 || px[i + 2] < 250)) inked++;
    state.ink = Math.round(1000 * inked / (px.length / 4)) / 1000;
    return state; }"""
NOTEBOOK_SCROLLER = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer"
SHUTDOWN_KERNEL = """async path => {   // from inside the page, so the _xsrf cookie goes along
    const xsrf = decodeURIComponent((document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '');
    for (const s of (await (await fetch('/api/sessions')).json()).filter(s => s.path === path))
        await fetch('/api/sessions/' + s.id,
                    {method: 'DELETE', headers: {'X-XSRFToken': xsrf}}); }"""


def launch_chromium(playwright, executable: str, home: Path):
    """Headless Chromium from the system (never `playwright install`); its files go to `home`."""
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache")}
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, env=env)


def run_notebook(browser, base_url: str, notebook: str, source: Path, cdn_files: dict[str, Path],
                 shots: Path) -> dict:
    """Run `notebook` (path under the server root) as a learner; returns a JSON-ready summary.

    source: the notebook file (read for cell tags); cdn_files: cdnjs URL -> local file.
    The summary's "problems" list is empty when everything a learner sees is right.
    """
    shots.mkdir(parents=True, exist_ok=True)
    cells = code_cells(source)
    log = {"notebook": notebook, "seconds": {}, "served_offline": [], "blocked": [],
           "console_errors": [], "page_errors": []}
    started = time.monotonic()
    context = browser.new_context(viewport=VIEWPORT)
    _serve_offline(context, cdn_files, log)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and log["console_errors"].append(m.text[:300]))
    page.on("pageerror", lambda e: log["page_errors"].append(str(e)[:300]))
    try:
        t = time.monotonic()
        _open(page, f"{base_url}/lab/tree/{notebook}?reset")
        log["seconds"]["open"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        log["finished"] = _restart_and_run_all(page, cells)
        log["seconds"]["run_all"] = round(time.monotonic() - t, 1)
        t = time.monotonic()
        log["cells"] = page.evaluate(CELL_STATES)
        log["bertviz"], log["sliders"] = {"views": [], "load_errors": []}, []
        if log["finished"]:   # a kernel still busy would not redraw a plot
            log["bertviz"] = _bertviz(page, shots)
            log["sliders"] = _play_with_sliders(page, shots)
        _shoot_notebook(page, shots)
        page.evaluate(SHUTDOWN_KERNEL, notebook)
        log["seconds"]["checks"] = round(time.monotonic() - t, 1)
    except Exception:
        page.screenshot(path=shots / "harness-gave-up.png")   # what the page showed at that moment
        raise
    finally:
        context.close()
    log["seconds"]["total"] = round(time.monotonic() - started, 1)
    log["problems"] = problems(log, cells)
    return log


def code_cells(source: Path) -> list[dict]:
    """The notebook file's code cells: number among all cells, first line, empty?, raises?"""
    cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
    out = []
    for number, cell in enumerate(cells, 1):
        if cell["cell_type"] != "code":
            continue
        text = "".join(cell["source"])
        out.append({"number": number, "first_line": text.strip().split("\n")[0][:60],
                    "empty": not text.strip(),
                    "raises": "raises-exception" in cell.get("metadata", {}).get("tags", [])})
    return out


def problems(log: dict, cells: list[dict]) -> list[str]:
    """What a learner would see go wrong, one sentence each."""
    found = []
    if not log["finished"]:
        found.append(f"Run All did not finish within {RUN_TIMEOUT_S} s")
    if len(log["cells"]) != len(cells):
        found.append(f"the page shows {len(log['cells'])} code cells, the file has {len(cells)}")
    for cell, state in zip(cells, log["cells"]):
        where = f"cell {cell['number']} ({cell['first_line']!r})"
        if not cell["empty"] and not RAN.match(state["prompt"]):
            found.append(f"{where} did not run: its prompt is {state['prompt']!r}")
        if state["tracebacks"] and not cell["raises"]:
            found.append(f"{where} raised:\n{state['tracebacks'][0]}")
        found += [f"{where} shows {text!r}" for text in state["broken"]]
    found += [f"bertviz could not load its scripts: {e}" for e in log["bertviz"]["load_errors"]]
    for n, view in enumerate(log["bertviz"]["views"], 1):
        if not (view["svgs"] and view["tokens"] and view["shapes"]):
            found.append(f"bertviz view {n} ({view['frame']}) drew no SVG with tokens and lines")
    for n, s in enumerate(log["sliders"], 1):
        if not s["moved"]:
            found.append(f"slider {n} did not move when dragged "
                         f"(readout {s['before']['readout']!r})")
        if s["before"]["plot"] and s["before"]["plot"] == s["after"]["plot"]:
            found.append(f"slider {n}: its plot did not change when the slider moved")
        for when in ("before", "after"):
            ink = s[when]["ink"]
            if ink is not None and ink < MIN_INK:
                found.append(f"slider {n}: the plot {when} dragging is blank ({ink:.1%} ink)")
    return found


def _serve_offline(context, cdn_files: dict[str, Path], log: dict) -> None:
    """Everything not on 127.0.0.1 is aborted, except the cdnjs files we hold locally."""
    def handle(route):
        url = route.request.url
        local = cdn_files.get(url.split("?")[0])
        if local is None:
            log["blocked"].append(url)
            route.abort()
        else:
            log["served_offline"].append(url)
            route.fulfill(path=local, headers={"access-control-allow-origin": "*"})
    context.route(NOT_LOOPBACK, handle)


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    page.wait_for_function(KERNEL_IDLE, timeout=90_000)


def _menu(page, menu: str, item: str) -> None:
    page.click(f"#jp-MainMenu .lm-MenuBar-itemLabel:text-is('{menu}')")
    page.click(f".lm-Menu-content .lm-Menu-itemLabel:has-text('{item}')")


def _restart_and_run_all(page, cells: list[dict]) -> bool:
    """Clear, restart, run all; wait until every cell ran, or Run All stopped (after an error).

    Clearing first means a prompt "[3]:" saved in the file cannot pass for a fresh one.
    Returns False if RUN_TIMEOUT_S ran out.
    """
    _menu(page, "Edit", "Clear Outputs of All Cells")
    _menu(page, "Kernel", "Restart Kernel and Run All Cells")
    page.click(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    quiet_since = None
    while time.monotonic() < deadline:
        page.wait_for_timeout(500)
        prompts, idle = page.evaluate(PROMPTS), page.evaluate(KERNEL_IDLE)
        pending = [p for p, c in zip(prompts, cells) if not c["empty"] and not RAN.match(p)]
        if idle and not pending:
            return True
        # idle with nothing queued but cells left unrun: Run All stopped at an error
        stopped = idle and "[*]:" not in prompts
        quiet_since = (quiet_since or time.monotonic()) if stopped else None
        if stopped and time.monotonic() - quiet_since > 10:
            return True
    return False


def _bertviz(page, shots: Path) -> dict:
    """Wait up to 20 s for every bertviz view to draw, then describe and shoot them."""
    for _ in range(40):
        views, load_errors = [], []
        for frame in page.frames:
            try:
                found = frame.evaluate(BERTVIZ_VIEWS)
                load_errors += frame.evaluate(LOAD_ERRORS)
            except Exception:  # noqa: BLE001  (a frame can detach while we look)
                continue
            where = "page" if frame == page.main_frame else "iframe"
            views += [dict(v, frame=where) for v in found]
        if all(v["tokens"] and v["shapes"] for v in views):
            break
        page.wait_for_timeout(500)
    # whole cells: an undrawn view has height 0 and cannot be shot on its own
    cells = page.locator(".jp-Notebook .jp-CodeCell").filter(
        has=page.locator('iframe, div[id^="bertviz-"]'))
    for i in range(cells.count()):
        _shoot(page, cells.nth(i), shots / f"bertviz-{i + 1}.png")
    return {"views": views, "load_errors": load_errors}


def _play_with_sliders(page, shots: Path) -> list[dict]:
    sliders = page.locator(".jp-Notebook .widget-slider")
    return [_drag(page, sliders.nth(i), shots / f"slider-{i + 1}") for i in range(sliders.count())]


def _drag(page, slider, shot_prefix: Path) -> dict:
    """Drag the handle to 20 % of the track from its far end; wait for the plot to be redrawn.

    That far, so that even a slider with two values (handle at one end) changes its value.
    """
    # all of the cell's outputs: interactive_output() puts the plot in an output of its own
    area = slider.locator("xpath=ancestor::div[contains(@class, 'jp-Cell-outputArea')][1]")
    slider.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    before = slider.evaluate(SLIDER_STATE)
    _shoot(page, area, f"{shot_prefix}-before.png")
    handle = slider.locator(".noUi-handle").first.bounding_box()
    track = slider.locator(".noUi-target").first.bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    if track["width"] >= track["height"]:
        to_x, to_y = _far_side(x, track["x"], track["width"]), y
    else:   # a vertical slider
        to_x, to_y = x, _far_side(y, track["y"], track["height"])
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(to_x, to_y, steps=12)
    page.mouse.up()
    if before["plot"]:
        _wait_for_new_plot(page, slider, before["plot"])
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    page.wait_for_timeout(700)
    after = slider.evaluate(SLIDER_STATE)
    _shoot(page, area, f"{shot_prefix}-after.png")
    key = "readout" if before["readout"] is not None else "value"
    return {"before": before, "after": after, "moved": before[key] != after[key]}


def _far_side(at: float, start: float, length: float) -> float:
    return start + length * (0.8 if at < start + length / 2 else 0.2)


def _wait_for_new_plot(page, slider, old: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and slider.evaluate(SLIDER_STATE)["plot"] in (old, None):
        page.wait_for_timeout(250)


def _shoot(page, element, path) -> None:
    """Scroll twice before the shot: cells coming into view get their real height (windowing)
    and push the element away from where the first scroll put it."""
    for _ in range(2):
        element.scroll_into_view_if_needed()
        page.wait_for_timeout(400)
    element.screenshot(path=path)


def _shoot_notebook(page, shots: Path) -> None:
    """The whole notebook, top to bottom, in pieces SHOT_HEIGHT tall: notebook-01.png, ..."""
    page.set_viewport_size({"width": VIEWPORT["width"], "height": SHOT_HEIGHT})
    scroller = page.locator(NOTEBOOK_SCROLLER)
    page.wait_for_timeout(500)
    total, step = scroller.evaluate("o => [o.scrollHeight, o.clientHeight]")
    for n, top in enumerate(range(0, total, step), 1):
        scroller.evaluate("(o, top) => { o.scrollTop = top; }", top)
        page.wait_for_timeout(700)
        scroller.screenshot(path=shots / f"notebook-{n:02d}.png")
