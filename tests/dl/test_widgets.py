"""Live views driven through their values without a front end: redraw budget, cell binding, static end."""
import base64

import ipywidgets
import numpy as np
import pytest
from IPython.core.events import EventManager, available_events

import dl.widgets.frontend
import dl.widgets.view
from dl.fast_layers import conv_forward_fast
from dl.models import FullyConnectedNet
from dl.solver import Solver
from dl.vis import visualize_grid
from dl.widgets import Explorer, ImageGrid, KernelEditor, TrainingDashboard
from dl.widgets.budget import RedrawBudget
from dl.widgets.frontend import WIDGET_VIEW, IPythonFrontend

PNG_MAGIC = b"\x89PNG"


class FakeFrontend:
    """Records outputs per cell as a notebook would; ``end_cell`` runs the cell-end callbacks and
    ``start_cell`` (the next cell starts) the next-cell ones."""

    def __init__(self, live: bool = True):
        self.live = live
        self.updates = True
        self.cell = 1
        self.outputs: dict[str, dict] = {}  # display id -> current bundle
        self.cell_of: dict[str, int] = {}
        self.replaced: list[str] = []  # display ids, once per replace()
        self._at_cell_end = []
        self._at_next_cell = []

    def show(self, bundle, display_id):
        assert display_id not in self.outputs, "a view is shown once, then replaced"
        self.outputs[display_id] = bundle
        self.cell_of[display_id] = self.cell

    def replace(self, bundle, display_id):
        assert display_id in self.outputs, "replace() of an output that was never shown"
        self.outputs[display_id] = bundle
        self.replaced.append(display_id)

    def on_cell_end(self, callback):
        self._at_cell_end.append(callback)

    def on_next_cell(self, callback):
        self.on_cell_end(lambda: self._at_next_cell.append(callback))

    def end_cell(self):
        callbacks, self._at_cell_end = self._at_cell_end, []
        for callback in callbacks:
            callback()
        self.cell += 1

    def start_cell(self):
        callbacks, self._at_next_cell = self._at_next_cell, []
        for callback in callbacks:
            callback()

    def in_cell(self, cell):
        return [self.outputs[i] for i, c in self.cell_of.items() if c == cell]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def front(monkeypatch):
    frontend = FakeFrontend()
    monkeypatch.setattr(dl.widgets.frontend, "current_frontend", lambda: frontend)
    return frontend


def _png(bundle) -> bytes:
    return base64.b64decode(bundle["image/png"])


def _is_static(bundle) -> bool:
    return set(bundle) == {"image/png", "text/plain"} and _png(bundle).startswith(PNG_MAGIC)


def _data():
    rng = np.random.default_rng(0)
    return {"X_train": rng.standard_normal((40, 6)), "y_train": rng.integers(3, size=40),
            "X_val": rng.standard_normal((10, 6)), "y_val": rng.integers(3, size=10)}


def _train(rule, callback, data):
    np.random.seed(0)
    solver = Solver(FullyConnectedNet([5], input_dim=6, num_classes=3), data, update_rule=rule,
                    num_epochs=2, batch_size=10, verbose=False, callbacks=[callback])
    solver.train()
    return solver


# The redraw budget ---------------------------------------------------------------------------

def test_budget_keeps_redraws_and_a_final_one_within_their_share_of_the_time():
    clock = FakeClock()
    budget = RedrawBudget(max_share=0.1, min_interval=0.25, clock=clock)
    clock.now = 0.25
    assert budget.allows()
    with budget.spend():
        clock.now = 1.25  # a 1 s redraw
    clock.now = 29.9
    assert not budget.allows()  # 1 s spent, 1 s for this redraw and 1 s kept for the final one: over 10 % of 29.9 s
    clock.now = 30.0
    assert budget.allows()
    assert budget.redraws == 1 and budget.spent == 1.0


def test_budget_reserves_an_expected_redraw_before_the_first_is_measured():
    clock = FakeClock()
    budget = RedrawBudget(max_share=0.1, min_interval=0.25, clock=clock, expected_cost=0.5)
    clock.now = 9.9
    assert not budget.allows()  # a short run is left to its final redraw
    clock.now = 10.0
    assert budget.allows()


def test_budget_waits_min_interval_after_opening_and_between_redraws():
    clock = FakeClock()
    budget = RedrawBudget(max_share=1.0, min_interval=0.25, clock=clock)
    clock.now = 0.2
    assert not budget.allows()
    with budget.spend():
        pass
    clock.now = 0.4
    assert not budget.allows()
    clock.now = 0.45
    assert budget.allows()


def test_dashboard_redraws_cost_at_most_a_tenth_of_training(front, monkeypatch):
    clock = FakeClock()
    draws = []

    def slow_render(figure):  # every redraw takes 0.2 s of the fake clock
        clock.now += 0.2
        draws.append(clock.now)
        return PNG_MAGIC + b"fake"

    monkeypatch.setattr(dl.widgets.view, "render_png", slow_render)
    dashboard = TrainingDashboard(budget=lambda: RedrawBudget(clock=clock))
    for iteration in range(1000):  # 10 s of training, 0.01 s per iteration
        clock.now += 0.01
        dashboard.record(loss=1.0 / (iteration + 1))
    budget = dashboard.view.budget
    assert budget.redraws >= 3  # it redrew while training, not only at the end
    front.end_cell()
    assert len(draws) == budget.redraws  # the final state is drawn and counted too
    assert budget.spent <= 0.1 * (clock.now - budget.opened) + 0.2  # the first redraw's cost is not known before it
    assert dashboard.view.figure.axes[0].get_lines()[0].get_xdata()[-1] == 999  # every iteration shown


# The training dashboard ----------------------------------------------------------------------

def test_solver_callback_shows_live_then_ends_static(front):
    data = _data()
    dashboard = TrainingDashboard("test")
    solvers = {rule: _train(rule, dashboard.callback(rule), data) for rule in ("sgd", "adam")}
    [live] = front.in_cell(1)
    assert live[WIDGET_VIEW]["model_id"]  # a live widget view while the cell runs
    for rule, solver in solvers.items():
        assert dashboard.runs[rule].loss_history == solver.loss_history
    front.end_cell()
    [final] = front.in_cell(1)
    assert _is_static(final)  # replaced by the PNG alone: a reopened notebook shows it
    assert "sgd, adam" in final["text/plain"]
    assert dashboard.view.finished and _png(final) == dashboard.view.png
    loss_lines = [line for line in dashboard.view.figure.axes[0].get_lines()]
    assert [len(line.get_xdata()) for line in loss_lines] == [len(s.loss_history) for s in solvers.values()]


def test_reused_dashboard_opens_a_view_in_each_cell(front):
    data = _data()
    dashboard = TrainingDashboard("rules")
    _train("sgd", dashboard.callback("sgd"), data)
    front.end_cell()
    [first] = front.in_cell(1)
    _train("adam", dashboard.callback("adam"), data)  # a later cell, the same dashboard
    assert front.in_cell(1) == [first]  # the first cell's output is left alone
    front.end_cell()
    [second] = front.in_cell(2)
    assert _is_static(first) and _is_static(second)
    assert "sgd)" in first["text/plain"] and "sgd, adam" in second["text/plain"]
    labels = [line.get_label() for line in dashboard.view.figure.axes[0].get_lines()]
    assert labels == ["loss_sgd", "loss_adam"]  # the new view holds every run so far


def test_record_feeds_any_loop_and_rejects_a_solver_label(front):
    dashboard = TrainingDashboard()
    for step in range(5):
        dashboard.record("torch", loss=2.0 - step)
    dashboard.record("torch", train_acc=0.5, val_acc=0.4)
    run = dashboard.runs["torch"]
    assert run.loss_history == [2.0, 1.0, 0.0, -1.0, -2.0]
    assert run.train_acc_history == [0.5] and run.val_acc_history == [0.4]
    dashboard.callback("solver")(object())
    with pytest.raises(ValueError, match="'solver' is fed by a Solver callback"):
        dashboard.record("solver", loss=1.0)


def test_close_ends_the_view_before_the_cell_ends(front):
    dashboard = TrainingDashboard()
    dashboard.record(loss=1.0)
    dashboard.close()
    [output] = front.in_cell(1)
    assert _is_static(output)
    dashboard.record(loss=0.5)  # more training in the same cell opens a new view
    assert len(front.in_cell(1)) == 2


def test_static_figure_has_three_panels_with_labelled_lines(front):
    dashboard = TrainingDashboard()
    dashboard.record("adam", loss=1.0, train_acc=0.2, val_acc=0.1)
    fig = dashboard.figure()
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    assert labels == ["loss_adam", "train_acc_adam", "val_acc_adam", "best_val_acc_adam"]


def test_works_with_widgets_lacking_repr_mimebundle_like_ipywidgets_7(front, monkeypatch):
    class Missing:  # reads fail as on ipywidgets 7; close() may still assign it, as ipywidgets 8 does
        def __get__(self, widget, owner=None):
            raise AttributeError(f"'{owner.__name__}' object has no attribute '_repr_mimebundle_'")

    for name in ("Image", "VBox"):
        old = getattr(ipywidgets, name)
        monkeypatch.setattr(ipywidgets, name, type(name, (old,), {"_repr_mimebundle_": Missing()}))
        assert not hasattr(getattr(ipywidgets, name)(), "_repr_mimebundle_")
    dashboard = TrainingDashboard()
    dashboard.record(loss=1.0)
    explorer = Explorer({"x": ipywidgets.FloatSlider(1.0)}, lambda fig, values: None)
    explorer.show()
    dashboard_view, controls, figure = front.in_cell(1)
    assert dashboard_view[WIDGET_VIEW]["model_id"] and controls[WIDGET_VIEW]["model_id"] and _is_static(figure)
    front.end_cell()
    assert _is_static(front.in_cell(1)[0])


def test_in_a_terminal_only_the_final_figure_is_shown(front):
    front.live = front.updates = False  # no kernel: printed outputs cannot be replaced
    dashboard = TrainingDashboard()
    for step in range(50):
        dashboard.record(loss=1.0 / (step + 1))
    assert front.outputs == {}
    front.end_cell()
    [output] = front.in_cell(1)
    assert _is_static(output)


def test_without_widgets_a_long_run_shows_a_png_redrawn_every_few_seconds(front, monkeypatch):
    front.live = False  # a kernel without ipywidgets: its outputs can still be replaced
    clock = FakeClock()
    draws = []

    def slow_render(figure):  # every redraw takes 0.05 s of the fake clock
        clock.now += 0.05
        draws.append(clock.now)
        return PNG_MAGIC + bytes([len(draws)])

    monkeypatch.setattr(dl.widgets.view, "render_png", slow_render)
    dashboard = TrainingDashboard(budget=lambda: RedrawBudget(clock=clock))
    shown = []
    for iteration in range(3000):  # 30 s of training, 0.01 s per iteration
        clock.now += 0.01
        dashboard.record(loss=1.0 / (iteration + 1))
        shown.extend(_png(bundle) for bundle in front.in_cell(1))
    front.end_cell()
    [output] = front.in_cell(1)
    assert _is_static(output) and _png(output) == dashboard.view.png  # the final figure
    live_draws = draws[:-1]
    assert len(live_draws) >= 4  # progress while it ran, every 5 s at most
    assert all(later - earlier >= 5.0 for earlier, later in zip(live_draws, live_draws[1:]))
    assert len(set(shown)) == len(live_draws)  # each redraw replaced the one PNG shown
    assert len(front.replaced) == len(draws) - 1  # shown once, then replaced in place
    budget = dashboard.view.budget
    assert budget.spent <= 0.1 * (clock.now - budget.opened)  # within the same tenth of the time


def test_outside_ipython_nothing_is_shown_and_the_figure_is_kept():
    assert dl.widgets.frontend.current_frontend() is None  # pytest runs no IPython shell
    dashboard = TrainingDashboard()
    dashboard.record(loss=1.0, train_acc=0.5, val_acc=0.25)
    dashboard.close()
    assert dashboard.view.png.startswith(PNG_MAGIC)


class _Shell:
    def __init__(self, kernel):
        self.kernel = kernel
        self.events = EventManager(self, available_events)


def test_ipython_frontend_is_live_only_in_a_kernel_with_ipywidgets(monkeypatch):
    assert IPythonFrontend(_Shell(kernel=object())).live
    terminal = IPythonFrontend(_Shell(kernel=None))
    assert not terminal.live and not terminal.updates
    monkeypatch.setitem(__import__("sys").modules, "ipywidgets", None)  # not installed
    without_widgets = IPythonFrontend(_Shell(kernel=object()))
    assert not without_widgets.live and without_widgets.updates


def test_ipython_frontend_calls_back_once_when_the_cell_ends():
    shell = _Shell(kernel=object())
    calls = []
    IPythonFrontend(shell).on_cell_end(lambda: calls.append("end"))
    shell.events.trigger("post_run_cell", None)
    shell.events.trigger("post_run_cell", None)
    assert calls == ["end"]


def test_ipython_frontend_calls_back_once_when_the_next_cell_starts():
    shell = _Shell(kernel=object())
    calls = []
    IPythonFrontend(shell).on_next_cell(lambda: calls.append("next"))
    shell.events.trigger("pre_run_cell", None)  # a cell started before this one ended does not count
    assert calls == []
    shell.events.trigger("post_run_cell", None)
    assert calls == []
    for _ in range(2):
        shell.events.trigger("pre_run_cell", None)
        shell.events.trigger("post_run_cell", None)
    assert calls == ["next"]


# The image grid ------------------------------------------------------------------------------

def test_image_grid_shows_the_latest_images_and_ends_static(front):
    rng = np.random.default_rng(3)
    grid = ImageGrid("samples")
    for step in range(3):
        images = rng.uniform(size=(5, 4, 4, 3))
        grid.update(images, title=f"step {step}")
    front.end_cell()
    shown = grid.view.figure.axes[0].images[0]
    np.testing.assert_allclose(shown.get_array(), visualize_grid(images, ubound=1.0))
    assert grid.view.figure._suptitle.get_text() == "step 2"
    [output] = front.in_cell(1)
    assert _is_static(output) and "step 2" in output["text/plain"]


def test_image_grid_takes_grey_images_and_explains_bad_shapes(front):
    grid = ImageGrid()
    grid.update(np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3))
    grid.close()
    assert grid.view.figure.axes[0].images[0].get_array().shape == (7, 7)
    with pytest.raises(ValueError, match=r"got \(2, 3, 8, 8\).*transpose\(0, 2, 3, 1\)"):
        grid.update(np.zeros((2, 3, 8, 8)))


# Explorers -----------------------------------------------------------------------------------

def _slope_explorer():
    drawn = []

    def draw(fig, values):
        if not fig.axes:
            fig.subplots().plot([0, 1], [0, 0])
        fig.axes[0].lines[0].set_ydata([0, values["slope"]])
        drawn.append(values["slope"])

    slider = ipywidgets.FloatSlider(1.0, min=0, max=5)
    return Explorer({"slope": slider}, draw), slider, drawn


def test_explorer_redraws_its_png_on_each_change_until_another_cell_runs(front):
    explorer, slider, drawn = _slope_explorer()
    assert slider.continuous_update is False
    explorer.show()
    controls, figure = front.in_cell(1)
    assert controls[WIDGET_VIEW]["model_id"] == explorer.layout.model_id  # the controls: a widget
    assert _is_static(figure) and _png(figure) == explorer.view.png  # the figure: a plain PNG
    slider.value = 3.0
    controls, figure = front.in_cell(1)
    assert drawn == [1.0, 3.0] and _png(figure) == explorer.view.png  # redrawn in place
    front.end_cell()
    slider.value = 4.0  # still live after its cell: the student explores
    assert drawn == [1.0, 3.0, 4.0] and _png(front.in_cell(1)[1]) == explorer.view.png
    front.start_cell()  # another cell runs: what a saved notebook would show is now static
    controls, figure = front.in_cell(1)
    assert set(controls) == {"text/plain"} and "'slope': 4.0" in controls["text/plain"]
    assert "run this cell again" in controls["text/plain"]
    assert _is_static(figure) and _png(figure) == explorer.view.png
    assert drawn == [1.0, 3.0, 4.0]  # the figure shown was current: not drawn again
    slider.value = 2.0
    assert drawn == [1.0, 3.0, 4.0] and explorer.view.finished  # a static explorer no longer redraws


def test_explorer_shown_again_opens_in_the_new_cell_and_close_ends_it(front):
    explorer, slider, drawn = _slope_explorer()
    explorer.show()
    front.end_cell()
    front.start_cell()
    first = front.in_cell(1)
    explorer.show()  # run its cell again (as cell 2)
    assert front.in_cell(1) == first and len(front.in_cell(2)) == 2
    slider.value = 5.0
    assert _png(front.in_cell(2)[1]) == explorer.view.png and front.in_cell(1) == first
    explorer.close()
    controls, figure = front.in_cell(2)
    assert set(controls) == {"text/plain"} and "'slope': 5.0" in controls["text/plain"] and _is_static(figure)


def test_explorer_without_widgets_is_its_static_figure(front):
    front.live = False
    explorer, slider, drawn = _slope_explorer()
    explorer.show()
    [figure] = front.in_cell(1)
    assert _is_static(figure) and explorer.view.finished and drawn == [1.0]


def _direct_response(images, kernel, channels):
    """The response computed without the editor: the kernel on ``channels``, zeros elsewhere."""
    w = np.zeros((1, 3, 3, 3))
    for c in channels:
        w[0, c] = kernel
    out, _ = conv_forward_fast(images, w, np.zeros(1), {"stride": 1, "pad": 1})
    return out[:, 0]


@pytest.mark.parametrize("channel, channels", [("R", [0]), ("G", [1]), ("B", [2]), ("RGB", [0, 1, 2])])
def test_kernel_editor_response_matches_direct_convolution(channel, channels):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, 3, 9, 7))
    kernel = rng.standard_normal((3, 3))
    editor = KernelEditor(images, kernel=kernel, channel=channel)
    response = editor.response()
    assert response.shape == (2, 9, 7)
    np.testing.assert_allclose(response, _direct_response(images, kernel, channels), rtol=1e-12, atol=1e-9)


def test_kernel_editor_default_is_horizontal_edges_on_blue():
    editor = KernelEditor(np.zeros((1, 3, 4, 4)))
    np.testing.assert_array_equal(editor.kernel, [[1, 2, 1], [0, 0, 0], [-1, -2, -1]])
    assert editor.channel == "B"


def test_editing_a_cell_or_the_channel_redraws_the_responses(front):
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (2, 3, 8, 8))
    editor = KernelEditor(images)
    editor.show()
    first_png = editor.explorer.view.png
    kernel = editor.kernel
    kernel[1, 1] = 4.0
    editor.cells[1][1].value = 4.0  # what typing into the middle field does
    expected = _direct_response(images, kernel, [2])
    np.testing.assert_allclose(editor.response(), expected, rtol=1e-12, atol=1e-9)
    shown = [ax.images[0].get_array() for ax in editor.explorer.figure.axes]
    np.testing.assert_allclose(shown, expected, rtol=1e-12, atol=1e-9)
    assert editor.explorer.view.png != first_png
    editor.channel_picker.value = "R"
    np.testing.assert_allclose(editor.response(), _direct_response(images, kernel, [0]), rtol=1e-12, atol=1e-9)
    assert editor.explorer.figure._suptitle.get_text() == "Kernel on the red channel"
    editor.close()
    fields, final = front.in_cell(1)
    assert set(fields) == {"text/plain"} and "kernel=[[1.0, 2.0, 1.0], [0.0, 4.0, 0.0]" in fields["text/plain"]
    assert _is_static(final) and _png(final) == editor.explorer.view.png and "channel='R'" in final["text/plain"]


@pytest.mark.parametrize("kwargs, match", [
    ({"images": np.zeros((2, 1, 4, 4))}, r"images must have shape \(N, 3, H, W\)"),
    ({"kernel": np.zeros((2, 2))}, r"kernel must have shape \(3, 3\)"),
    ({"channel": "X"}, "channel must be one of"),
])
def test_kernel_editor_rejects_bad_arguments(kwargs, match):
    arguments = {"images": np.zeros((1, 3, 4, 4)), **kwargs}
    with pytest.raises(ValueError, match=match):
        KernelEditor(**arguments)


# In a real kernel --------------------------------------------------------------------------

def test_executed_notebook_keeps_static_figures_only(tmp_path):
    """nbclient runs a kernel as nbmake does: live views during the cells, plain PNGs in the file,
    one per training cell, and an explorer's figure with its controls' text once the next cell ran."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = [
        "from dl.widgets import KernelEditor, TrainingDashboard\ndashboard = TrainingDashboard('runs')",
        "for step in range(3000):\n    dashboard.record('sgd', loss=1.0 / (step + 1))",
        "for step in range(3000):\n    dashboard.record('adam', loss=2.0 / (step + 1))",
        "import numpy as np\neditor = KernelEditor(np.random.default_rng(0).uniform(0, 255, (2, 3, 8, 8)))\neditor",
        "editor.cells[1][1].value = 4.0  # edited after its cell, as a student would",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", store_widget_state=False).execute(
        cwd=str(tmp_path)
    )
    outputs = [[o for o in cell.outputs if o.output_type in ("display_data", "execute_result")] for cell in notebook.cells]
    assert all("application/vnd.jupyter.widget-view+json" not in o.data for cell in outputs for o in cell)
    first, second = outputs[1:3]
    assert len(first) == 1 and len(second) == 1  # one view per cell, each in its own cell
    for [output], labels in [(first, "'runs': sgd)"), (second, "'runs': sgd, adam)")]:
        assert set(output.data) == {"image/png", "text/plain"}  # no widget view left to go missing
        assert base64.b64decode(output.data["image/png"]).startswith(PNG_MAGIC)
        assert output.data["text/plain"].endswith(labels)
    fields, figure = outputs[3]
    assert set(fields.data) == {"text/plain"} and "channel='B'" in fields.data["text/plain"]
    assert "[0.0, 4.0, 0.0]" not in fields.data["text/plain"]  # static as the last cell started: before the edit
    assert set(figure.data) == {"image/png", "text/plain"} and base64.b64decode(figure.data["image/png"]).startswith(PNG_MAGIC)


def test_the_accuracy_panels_name_the_loops_checks(front):
    dashboard = TrainingDashboard(check_label="Check (every 100 iterations)")
    dashboard.record("sgd", loss=1.0, train_acc=0.2, val_acc=0.1)
    for fig in (dashboard.figure(), dashboard.view.figure):
        assert [ax.get_xlabel() for ax in fig.axes] == ["Iteration", "Check (every 100 iterations)", "Check (every 100 iterations)"]
    assert [ax.get_xlabel() for ax in TrainingDashboard().figure().axes] == ["Iteration", "Epoch", "Epoch"]
