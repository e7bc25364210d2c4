"""a1 and a2 in a real browser: JupyterLab served on the loopback interface, driven in headless
Chromium with Selenium, as a student would use it.

The tests fill in an assignment's release with the reference (the ``correct`` sample), start JupyterLab with
a token and ``DL_SMOKE=1`` (its kernels inherit it), run all cells of a notebook from the Run menu
and watch its DOM, then save the notebook, close it (shutting its kernel down), open it again in a
fresh page and check that every cell that showed a figure shows it again (an image, no "Error
displaying widget" anywhere).

- FullyConnectedNets: the live training dashboard must show an image in the training cell's output
  that changes while that cell runs (the test appends one twelve-second training run for that: see
  LONGER_RUN).
- ConvolutionalNetworks: its kernel editor (an explorer) must have become a static figure once the
  later cells ran; the test then runs the editor's cell again, types a new kernel weight into it,
  sees the figure change, runs the next code cell (the editor becomes static) and checks that the
  reopened notebook shows the edited figure.
- PyTorch (a2): as FullyConnectedNets, with a twelve-second run of the notebook's ``train_module``
  appended (LONGER_RUN_PYTORCH); every training cell's dashboard must show its figure.
- NetworkVisualization (a2): each class visualisation (an image grid) must show an image that
  changes while its cell runs; the saliency explorer and the fooling explorer are static figures
  after Run All; the test runs the saliency explorer's cell again and picks another image (the
  figure changes), then the fooling explorer's cell (the saliency explorer becomes static, showing
  the picked image) and picks another target class (the figure changes), runs the next code cell
  (the fooling explorer becomes static) and checks that the reopened notebook shows both edited
  figures.

Only what a student sees is asserted (images in a cell's output, prompts, input fields, error
text), never how the widgets are built, plus that the saved file holds no widget view that could go
missing. Screenshots go to ``out/browser/``. Needs the Debian packages ``chromium`` and
``chromium-driver`` (``./run.sh test`` installs them where it can) and the system browser and
driver only; skipped with the reason otherwise. One file: pytest-xdist (``--dist loadfile``) gives
its tests to one worker, one after the other.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import pytest

from course.samples import make_samples

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extras have it)")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "out" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1280, 1024)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# Each test takes about a minute on an idle 2-core machine (the notebook's run in smoke mode,
# saving and reopening); the limit stops a hung browser or kernel long before CI's.
pytestmark = pytest.mark.timeout(600, method="signal")

# The test's own Jupyter configuration (under a temporary JUPYTER_CONFIG_DIR and
# JUPYTERLAB_SETTINGS_DIR): JupyterLab as a student has it, without the instructor's nbgrader
# extensions; every cell stays in the DOM (the default windowing detaches cells scrolled out of
# view, and their outputs with them); no news or update notifications.
NBGRADER_SERVER_EXTENSIONS = ("formgrader", "validate_assignment", "assignment_list", "course_list")
JUPYTER_FILES = {
    "config/jupyter_server_config.json": {"ServerApp": {"jpserver_extensions": {
        f"nbgrader.server_extensions.{name}": False for name in NBGRADER_SERVER_EXTENSIONS}}},
    "config/labconfig/page_config.json": {"disabledExtensions": {"@jupyter/nbgrader": True}},
    "lab-settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "lab-settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}

# Injected into the page before the cells run: records every image that appears or changes in a
# cell's output, with its place (the cell's index, and the index of the output that holds it, which
# stays put while a display is updated in place) and whether that cell was running or queued at the
# time (its prompt shows "*"). Sources are kept as a hash: a PNG's data URI is large.
HASH = """
const hash = s => {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
  return (h >>> 0).toString(16) + ':' + s.length;
};
"""
WATCH_IMAGES = HASH + """
const notebook = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
window.dlImageEvents = [];
const record = img => {
  const cell = img.closest('.jp-Cell');
  const area = cell && cell.querySelector('.jp-OutputArea');
  if (!area || !area.contains(img) || !img.getAttribute('src')) return;
  const outputs = Array.from(area.children);
  const prompt = cell.querySelector('.jp-InputPrompt');
  window.dlImageEvents.push({
    cell: Array.from(notebook.querySelectorAll('.jp-Cell')).indexOf(cell),
    output: outputs.indexOf(outputs.find(child => child.contains(img))),
    src: hash(img.getAttribute('src')),
    running: !!prompt && prompt.textContent.includes('*'),
  });
};
new MutationObserver(mutations => {
  for (const m of mutations) {
    if (m.type === 'attributes') { if (m.target.tagName === 'IMG') record(m.target); continue; }
    for (const node of m.addedNodes) {
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      if (node.tagName === 'IMG') record(node);
      node.querySelectorAll('img').forEach(record);
    }
  }
}).observe(notebook, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
"""

# Per cell: its index, whether it is a code cell, its prompt ("[3]:", "[*]:"), the first line of
# its source, the start of its output's text, whether that output shows an error or a widget that
# failed to display, whether each image in it has loaded and a hash of each one's source, and how
# many input fields and drop-down lists its output shows (a widget's).
CELL_STATES = HASH + """
const notebook = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
if (!notebook) return null;
return Array.from(notebook.querySelectorAll('.jp-Cell')).map((cell, index) => {
  const area = cell.querySelector('.jp-OutputArea');
  const text = area ? area.innerText : '';
  return {
    index,
    code: cell.classList.contains('jp-CodeCell'),
    prompt: (cell.querySelector('.jp-InputPrompt') || {}).textContent || '',
    first_line: ((cell.querySelector('.cm-content') || {}).innerText || '').split('\\n')[0],
    output_text: text.slice(0, 300),
    error: !!cell.querySelector('[data-mime-type="application/vnd.jupyter.error"]') || text.includes('Traceback'),
    widget_error: text.includes('Error displaying widget'),
    images: area ? Array.from(area.querySelectorAll('img')).map(img => img.complete && img.naturalWidth > 0) : [],
    sources: area ? Array.from(area.querySelectorAll('img')).map(img => hash(img.getAttribute('src') || '')) : [],
    inputs: area ? area.querySelectorAll('input').length : 0,
    selects: area ? area.querySelectorAll('select').length : 0,
  };
});
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base_url: str, token: str, path: str):
    """JSON reply of JupyterLab's REST API to GET ``path`` (such as ``api/kernels``)."""
    request = urllib.request.Request(f"{base_url}{path}", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        body = reply.read()
    return json.loads(body) if body else None


def wait_for(condition, timeout: float, what: str, interval: float = 0.5, fail: bool = True):
    """Poll ``condition()`` until it returns something truthy (returned), or fail naming ``what``
    (or, with ``fail=False``, return that last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            if not fail:
                return value
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def browser():
    """Headless Chromium (the system's browser and driver), or a skip saying why there is none."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not found: install the Debian packages chromium and chromium-driver "
                    "(./run.sh test does where it runs as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    except WebDriverException as error:
        pytest.skip(f"Chromium could not be started: {error.msg or error}".splitlines()[0])
    yield driver
    driver.quit()


@pytest.fixture
def jupyterlab(request, tmp_path):
    """JupyterLab serving a filled-in release, a1's or the one a test names with
    ``@pytest.mark.parametrize("jupyterlab", ["a2"], indirect=True)``; yields (base URL, token, the
    release folder)."""
    assignment = getattr(request, "param", "a1")
    served = tmp_path / "samples"
    folder = make_samples(ROOT / "source_notebooks" / assignment, ROOT / "release" / assignment, served)["correct"]
    home = tmp_path / "jupyter"
    for name, content in JUPYTER_FILES.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(json.dumps(content))
    env = dict(os.environ, DL_SMOKE="1", JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), IPYTHONDIR=str(home / "ipython"))
    env.pop("PYTEST_CURRENT_TEST", None)  # the kernel should not think it runs under pytest
    port = free_port()
    token = secrets.token_hex(16)  # a credential, not a random choice of the test
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "jupyterlab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
             "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={served}",
             "--ServerApp.allow_root=True"],
            cwd=served, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/"

    def ready():
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with status {server.returncode}; its log:\n{log_path.read_text()[-3000:]}")
        try:
            return api(base_url, token, "api/status") is not None
        except (urllib.error.URLError, ConnectionError):
            return False

    try:
        wait_for(ready, 90, f"JupyterLab to answer on {base_url} (log: {log_path})")
        yield base_url, token, folder
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        print(f"JupyterLab log: {log_path}")


def click_menu(driver, menu: str, command: str) -> None:
    """Click ``menu`` in the menu bar, then its item that runs the JupyterLab command ``command``."""
    driver.find_element(By.XPATH, f"//div[contains(@class, 'lm-MenuBar-itemLabel') and normalize-space()='{menu}']").click()
    items = f".lm-Menu-item[data-command='{command}']"
    if not wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, items), 10, f"the {menu} menu to show {command}", fail=False):
        shown = [item.get_attribute("data-command") for item in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-item")]
        pytest.fail(f"the {menu} menu has no item for {command}; it shows {shown}")
    driver.find_elements(By.CSS_SELECTOR, items)[0].click()


def cell_states(driver) -> list[dict]:
    return driver.execute_script(CELL_STATES) or []


def open_notebook(driver, base_url: str, token: str, notebook: str) -> list[dict]:
    """Load the notebook in a fresh page and wait until its cells are shown and its kernel is idle."""
    driver.get(f"{base_url}lab/tree/correct/{notebook}?token={token}")
    cells = wait_for(lambda: [c for c in cell_states(driver) if c["code"]], 60, f"{notebook}'s cells to be shown")
    wait_for(lambda: kernel_idle(base_url, token, notebook), 60, f"the kernel of {notebook} to start")
    return cells


def kernel_idle(base_url: str, token: str, notebook: str) -> bool:
    sessions = [s for s in api(base_url, token, "api/sessions") if s["path"].endswith(notebook)]
    return bool(sessions) and sessions[0]["kernel"]["execution_state"] == "idle"


def screenshot(driver, cell_index: int, name: str) -> Path:
    """Scroll the cell's output to the top of the window and save a screenshot as out/browser/<name>."""
    driver.execute_script(
        "const cell = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')[arguments[0]];"
        "(cell.querySelector('.jp-OutputArea') || cell).scrollIntoView({block: 'start'});", cell_index)
    time.sleep(0.5)  # let the scroll settle before the picture
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def run_all_cells(driver, notebook: str) -> list[dict]:
    """Run all cells from the Run menu; the code cells' states once none is running or queued."""
    click_menu(driver, "Run", "runmenu:run-all")
    started = time.monotonic()

    def finished():
        cells = [c for c in cell_states(driver) if c["code"]]
        if any("*" in c["prompt"] for c in cells):
            return None
        executed = all(any(ch.isdigit() for ch in c["prompt"]) for c in cells)
        return cells if executed or any(c["error"] for c in cells) else None  # Run All stops at an error

    cells = wait_for(finished, 480, "all cells to run", interval=1.0)
    print(f"{notebook} ran in {time.monotonic() - started:.0f} s")
    return cells


def live_cells(driver, cells: list[dict]) -> list[int]:
    """Indices of the cells one of whose outputs showed at least three different images while the
    cell ran (a live view), from the events WATCH_IMAGES recorded. Prints what it saw, including
    images that changed in a cell that was not running (a view drawing into an earlier cell)."""
    first_line = {c["index"]: c["first_line"] for c in cells}
    live: dict[tuple[int, int], set] = {}
    elsewhere: dict[int, int] = {}
    for event in driver.execute_script("return window.dlImageEvents"):
        if event["running"]:
            live.setdefault((event["cell"], event["output"]), set()).add(event["src"])
        else:
            elsewhere[event["cell"]] = elsewhere.get(event["cell"], 0) + 1
    for (index, output), sources in sorted(live.items()):
        print(f"cell {index} ({first_line[index]!r}), output {output}: {len(sources)} different images while it ran")
    for index, count in sorted(elsewhere.items()):
        print(f"cell {index} ({first_line[index]!r}): {count} images changed while it was not running")
    return sorted({index for (index, _), sources in live.items() if len(sources) >= 3})


def save(driver, path: Path) -> list[dict]:
    """Save with File > Save; the file's cells once JupyterLab has written it."""
    before = path.stat().st_mtime_ns
    click_menu(driver, "File", "docmanager:save")

    def read():
        if path.stat().st_mtime_ns == before:
            return None
        try:
            return json.loads(path.read_text())["cells"]
        except json.JSONDecodeError:  # read while JupyterLab writes it
            return None

    return wait_for(read, 30, f"{path.name} to be saved")


def saved_pngs(cells: list[dict]) -> list[int]:
    """Indices of the saved cells with an image/png output."""
    return [i for i, cell in enumerate(cells) if any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))]


def widget_views(cells: list[dict]) -> list[int]:
    """Indices of the saved cells whose outputs hold a widget view (which a reopened notebook cannot show)."""
    return [i for i, cell in enumerate(cells)
            if any(WIDGET_VIEW in output.get("data", {}) for output in cell.get("outputs", []))]


def close_and_reopen(driver, base_url: str, token: str, notebook: str, figures: list[int]) -> list[dict]:
    """Close the notebook with File > Close and Shut Down, open it again in a fresh page and return
    its cells' states once the cells ``figures`` show their images or a widget shows an error."""
    click_menu(driver, "File", "filemenu:close-and-cleanup")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog .jp-mod-accept"), 10,
             "the dialog that asks to shut the notebook down")[0].click()
    wait_for(lambda: not api(base_url, token, "api/kernels"), 30, "the notebook's kernel to shut down")
    open_notebook(driver, base_url, token, notebook)

    def settled():
        states = cell_states(driver)
        return any(c["widget_error"] for c in states) or all(shows_figure(states[i]) for i in figures)

    wait_for(settled, 30, f"cells {figures} to show a figure or a widget error after reopening")
    time.sleep(2)  # a widget view that fails does so once the page has its kernel: give it the chance
    return cell_states(driver)


def assert_reopened_shows(states: list[dict], figures: list[int]) -> None:
    """No cell shows a widget error, and each cell of ``figures`` shows its images."""
    widget_errors = [c for c in states if c["widget_error"]]
    assert not widget_errors, f"reopened, cell {widget_errors[0]['index']} shows {widget_errors[0]['output_text']!r}"
    without_figure = [i for i in figures if not shows_figure(states[i])]
    assert not without_figure, f"reopened, cells {without_figure} show no figure"


def shows_figure(cell: dict) -> bool:
    return bool(cell["images"]) and all(cell["images"])


def select_and_run(driver, cell_index: int) -> None:
    """Select the cell (a click on its prompt) and run it with Run > Run Selected Cell and Do not Advance."""
    driver.execute_script(
        "document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')[arguments[0]]"
        ".scrollIntoView({block: 'center'});", cell_index)
    driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell")[cell_index] \
        .find_element(By.CSS_SELECTOR, ".jp-InputPrompt").click()
    click_menu(driver, "Run", "notebook:run-cell")


def wait_for_cell(driver, index: int, condition: Callable[[dict], bool], what: str, timeout: float = 60) -> dict:
    """The state of cell ``index`` once it is not running and ``condition`` holds for it."""
    last = {}

    def check():
        states = cell_states(driver)
        last["cell"] = cell = states[index] if index < len(states) else None
        return cell if cell and "*" not in cell["prompt"] and condition(cell) else None

    found = wait_for(check, timeout, what, fail=False)
    if not found:
        screenshot(driver, index, "failed.png")
        pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}; the cell: {last.get('cell')}")
    return found


# In smoke mode every training cell of the notebook ends within a second or two, and the dashboard
# spends at most a tenth of a run's time on redraws, its final one included, so those cells show
# little more than their final figures. The test appends one real training run of a fixed twelve
# seconds (SGD steps on the notebook's data and its FullyConnectedNet), long enough for the
# dashboard to redraw several times while it runs, even where a loaded machine makes a redraw slow.
LONGER_RUN = """\
# Added by the browser test: twelve seconds of training, so the dashboard redraws while it runs.
import time

longer = FullyConnectedNet([100, 100], weight_scale=1e-2)
longer_dashboard = TrainingDashboard("Twelve seconds of SGD")
rng = np.random.default_rng(0)
start, step = time.perf_counter(), 0
while time.perf_counter() - start < 12:
    batch = rng.choice(len(data["X_train"]), 50)
    loss, grads = longer.loss(data["X_train"][batch], data["y_train"][batch])
    for name, grad in grads.items():
        longer.params[name] -= 1e-2 * grad
    step += 1
    if step % 100:
        longer_dashboard.record("sgd", loss=loss)
    else:  # an "epoch": accuracies on a few hundred images
        train_acc = (longer.loss(data["X_train"][:300]).argmax(axis=1) == data["y_train"][:300]).mean()
        val_acc = (longer.loss(data["X_val"]).argmax(axis=1) == data["y_val"]).mean()
        longer_dashboard.record("sgd", loss=loss, train_acc=train_acc, val_acc=val_acc)
"""


# PyTorch's smoke training cells are as short: the same twelve seconds, with the notebook's own
# training function, loaders and layers.
LONGER_RUN_PYTORCH = """\
# Added by the browser test: twelve seconds of training, so the dashboard redraws while it runs.
import time

reset_seed(0)
longer = nn.Sequential(Flatten(), nn.Linear(3 * 32 * 32, 100), nn.ReLU(), nn.Linear(100, 10))
longer_optimizer = optim.SGD(longer.parameters(), lr=1e-2)
longer_dashboard = TrainingDashboard("Twelve seconds of SGD")
start = time.perf_counter()
while time.perf_counter() - start < 12:
    train_module(longer, longer_optimizer, loader_train, loader_val, epochs=1, print_every=print_every,
                 callback=functools.partial(longer_dashboard.record, "sgd"))
"""


def append_cell(path: Path, source: str) -> None:
    """Append a code cell to the notebook at ``path``."""
    nb = json.loads(path.read_text())
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "browser-test-longer-run",
                        "metadata": {}, "outputs": [], "source": source})
    path.write_text(json.dumps(nb, indent=1))


def check_training_notebook(driver, base_url: str, token: str, folder: Path, notebook: str, longer_run: str,
                            name: str) -> list[dict]:
    """Run all of ``notebook`` with ``longer_run`` appended: no cell fails, the appended run's
    dashboard redraws while it runs, the saved file holds a PNG (and no widget view) for each cell
    that was live, and so does the reopened notebook. Screenshots ``<name>-after-training.png`` and
    ``<name>-after-reopening.png``; returns the saved file's cells."""
    append_cell(folder / notebook, longer_run)
    open_notebook(driver, base_url, token, notebook)
    driver.execute_script(WATCH_IMAGES)

    cells = run_all_cells(driver, notebook)
    failed = [c for c in cells if c["error"]]
    assert not failed, f"cell {failed[0]['index']} ({failed[0]['first_line']!r}) failed:\n{failed[0]['output_text']}"

    live = live_cells(driver, cells)
    assert live, "no cell output showed an image that changed while its cell ran: the live training dashboard did not update"
    appended = cells[-1]["index"]
    assert appended in live, "the appended twelve-second run's dashboard did not redraw while it ran"
    screenshot(driver, appended, f"{name}-after-training.png")

    saved = save(driver, folder / notebook)
    assert set(live) <= set(saved_pngs(saved)), f"cells {sorted(set(live) - set(saved_pngs(saved)))} were saved without a PNG"
    assert widget_views(saved) == [], f"the saved cells {widget_views(saved)} hold a widget view"

    states = close_and_reopen(driver, base_url, token, notebook, live)
    screenshot(driver, appended, f"{name}-after-reopening.png")
    assert_reopened_shows(states, live)
    return saved


def test_fully_connected_nets_in_jupyterlab(browser, jupyterlab):
    base_url, token, folder = jupyterlab
    check_training_notebook(browser, base_url, token, folder, "FullyConnectedNets.ipynb", LONGER_RUN, "fcn")


@pytest.mark.parametrize("jupyterlab", ["a2"], indirect=True)
def test_pytorch_in_jupyterlab(browser, jupyterlab):
    base_url, token, folder = jupyterlab
    saved = check_training_notebook(browser, base_url, token, folder, "PyTorch.ipynb", LONGER_RUN_PYTORCH, "pytorch")
    # every cell that trains with a dashboard (Parts II to V, the appended run) was saved with its figure
    training = [i for i, cell in enumerate(saved) if cell["cell_type"] == "code" and ".record" in "".join(cell["source"])]
    assert len(training) >= 5, training
    assert set(training) <= set(saved_pngs(saved)), f"cells {sorted(set(training) - set(saved_pngs(saved)))} were saved without a PNG"


EDITOR = "KernelEditor(photos)"


def test_convolutional_networks_kernel_editor_in_jupyterlab(browser, jupyterlab):
    base_url, token, folder = jupyterlab
    notebook = "ConvolutionalNetworks.ipynb"
    open_notebook(browser, base_url, token, notebook)

    cells = run_all_cells(browser, notebook)
    failed = [c for c in cells if c["error"]]
    assert not failed, f"cell {failed[0]['index']} ({failed[0]['first_line']!r}) failed:\n{failed[0]['output_text']}"
    figures = [c["index"] for c in cells if shows_figure(c)]
    [editor] = [c for c in cells if c["first_line"] == EDITOR]
    # Run All went on past the editor: it is a static figure, its fields a line of text
    assert editor["index"] in figures and editor["inputs"] == 0 and "static now" in editor["output_text"], editor

    # Run the editor's cell again: its nine fields and the channel picker come back, and typing a
    # weight redraws the figure in place.
    select_and_run(browser, editor["index"])
    live = wait_for_cell(browser, editor["index"], lambda c: c["inputs"] >= 9 and shows_figure(c),
                         "the kernel editor to show its fields and figure")
    middle = browser.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell")[editor["index"]] \
        .find_elements(By.CSS_SELECTOR, ".jp-OutputArea input")[4]
    middle.send_keys(Keys.CONTROL, "a")
    middle.send_keys("4", Keys.ENTER)
    edited = wait_for_cell(browser, editor["index"], lambda c: shows_figure(c) and c["sources"] != live["sources"],
                           "the kernel editor's figure to change after the edit", timeout=30)
    screenshot(browser, editor["index"], "kernel-editor-live.png")

    # Another cell runs: the editor becomes static, showing the edited figure.
    next_code = next(c["index"] for c in cells if c["index"] > editor["index"])
    select_and_run(browser, next_code)
    static = wait_for_cell(browser, editor["index"], lambda c: c["inputs"] == 0 and "static now" in c["output_text"],
                           "the kernel editor to become static once another cell ran")
    assert static["sources"] == edited["sources"] and "4.0" in static["output_text"], static

    saved = save(browser, folder / notebook)
    assert set(figures) <= set(saved_pngs(saved)), f"cells {sorted(set(figures) - set(saved_pngs(saved)))} were saved without a PNG"
    assert widget_views(saved) == [], f"the saved cells {widget_views(saved)} hold a widget view"

    states = close_and_reopen(browser, base_url, token, notebook, figures)
    screenshot(browser, editor["index"], "kernel-editor-after-reopening.png")
    assert_reopened_shows(states, figures)
    assert states[editor["index"]]["sources"] == edited["sources"], "reopened, the editor does not show the edited kernel"


# How the cells of NetworkVisualization start.
SALIENCY_EXPLORER = "def draw_saliency(fig, values):"
FOOLING_EXPLORER = "class ScoreRecorder(nn.Module):"
CLASS_VISUALISATIONS = ("num_iterations = 5 if SMOKE else 100", "target_y = smoke_target(1) if SMOKE else")

# The smoke class visualisations take 5 steps, a second or two: the image grid's redraw budget
# (dl/widgets/budget.py) may leave them no redraw but the last. The test appends eight seconds of
# class visualisation steps (the notebook's update step and model, an ImageGrid as in `visualize`),
# long enough for several redraws while the cell runs, on an idle machine as on a loaded one.
LONGER_CLASS_VISUALISATION = """\
# Added by the browser test: eight seconds of class visualisation, so that its image grid redraws while it runs.
import time

longer_grid = ImageGrid(figsize=(4, 4))
img = torch.randn(1, 3, 224, 224, generator=seeded_generator(0)).to(device=device, dtype=dtype).requires_grad_(True)
longer_target = smoke_target(0)
start, step = time.perf_counter(), 0
while time.perf_counter() - start < 8:
    class_visualization_update_step(img, model, longer_target, 1e-3, 25)
    step += 1
    longer_grid.update(np.asarray(deprocess(img.data.cpu()))[None] / 255.0, title=f"step {step}")
"""


def cell_starting(cells: list[dict], start: str) -> dict:
    """The one code cell whose source starts with ``start``."""
    found = [c for c in cells if c["first_line"].startswith(start)]
    assert len(found) == 1, f"{len(found)} cells start with {start!r}; the cells start with {[c['first_line'] for c in cells]}"
    return found[0]


def choose(driver, cell_index: int, control: int, option: int) -> None:
    """Pick option ``option`` of drop-down list ``control`` in the output of cell ``cell_index``."""
    cell = driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell")[cell_index]
    Select(cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea select")[control]).select_by_index(option)


def is_static(cell: dict) -> bool:
    return cell["inputs"] == 0 and cell["selects"] == 0 and "static now" in cell["output_text"] and shows_figure(cell)


@pytest.mark.parametrize("jupyterlab", ["a2"], indirect=True)
def test_network_visualization_explorers_in_jupyterlab(browser, jupyterlab):
    base_url, token, folder = jupyterlab
    notebook = "NetworkVisualization.ipynb"
    append_cell(folder / notebook, LONGER_CLASS_VISUALISATION)
    open_notebook(browser, base_url, token, notebook)
    browser.execute_script(WATCH_IMAGES)

    cells = run_all_cells(browser, notebook)
    failed = [c for c in cells if c["error"]]
    assert not failed, f"cell {failed[0]['index']} ({failed[0]['first_line']!r}) failed:\n{failed[0]['output_text']}"
    figures = [c["index"] for c in cells if shows_figure(c)]
    # each class visualisation shows one image grid, which the appended one redrew in place while it ran
    grids = [cell_starting(cells, line) for line in CLASS_VISUALISATIONS] + [cells[-1]]
    assert all(len(grid["images"]) == 1 for grid in grids), [(grid["index"], len(grid["images"])) for grid in grids]
    assert cells[-1]["index"] in live_cells(browser, cells), "the appended class visualisation's grid did not redraw while it ran"
    screenshot(browser, cells[-1]["index"], "class-visualisation.png")
    # Run All went on past both explorers: static figures, their controls a line of text
    saliency = cell_starting(cells, SALIENCY_EXPLORER)
    fooling = cell_starting(cells, FOOLING_EXPLORER)
    for explorer in (saliency, fooling):
        assert explorer["index"] in figures and is_static(explorer), explorer

    # The saliency explorer again: its image picker comes back; another image redraws the figure.
    select_and_run(browser, saliency["index"])
    shown = wait_for_cell(browser, saliency["index"], lambda c: c["selects"] == 1 and shows_figure(c),
                          "the saliency explorer to show its image picker and figure")
    choose(browser, saliency["index"], 0, 1)
    picked = wait_for_cell(browser, saliency["index"], lambda c: shows_figure(c) and c["sources"] != shown["sources"],
                           "the saliency explorer's figure to change after picking another image", timeout=30)
    screenshot(browser, saliency["index"], "saliency-explorer-live.png")

    # The fooling explorer again: the saliency explorer becomes static, showing the picked image;
    # another target class redraws the figure (a new fooling run).
    select_and_run(browser, fooling["index"])
    shown = wait_for_cell(browser, fooling["index"], lambda c: c["selects"] == 2 and shows_figure(c),
                          "the fooling explorer to show its image and target pickers and its figure", timeout=120)
    static = wait_for_cell(browser, saliency["index"], is_static, "the saliency explorer to become static once another cell ran")
    assert static["sources"] == picked["sources"] and "'image': 1" in static["output_text"], static
    choose(browser, fooling["index"], 1, 2)  # 187: Yorkshire terrier
    targeted = wait_for_cell(browser, fooling["index"], lambda c: shows_figure(c) and c["sources"] != shown["sources"],
                             "the fooling explorer's figure to change after picking another target", timeout=120)
    screenshot(browser, fooling["index"], "fooling-explorer-live.png")

    # Another cell runs: the fooling explorer becomes static, showing the new target's figure.
    select_and_run(browser, next(c["index"] for c in cells if c["index"] > fooling["index"]))
    static = wait_for_cell(browser, fooling["index"], is_static, "the fooling explorer to become static once another cell ran")
    assert static["sources"] == targeted["sources"] and "'target': 187" in static["output_text"], static

    saved = save(browser, folder / notebook)
    assert set(figures) <= set(saved_pngs(saved)), f"cells {sorted(set(figures) - set(saved_pngs(saved)))} were saved without a PNG"
    assert widget_views(saved) == [], f"the saved cells {widget_views(saved)} hold a widget view"

    states = close_and_reopen(browser, base_url, token, notebook, figures)
    screenshot(browser, fooling["index"], "fooling-explorer-after-reopening.png")
    assert_reopened_shows(states, figures)
    assert states[saliency["index"]]["sources"] == picked["sources"], "reopened, the saliency explorer does not show the picked image"
    assert states[fooling["index"]]["sources"] == targeted["sources"], "reopened, the fooling explorer does not show the new target"
