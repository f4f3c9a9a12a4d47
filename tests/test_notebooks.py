"""The notebooks in notebooks/: stored without outputs, and executed top to bottom with nbclient.

Each notebook has one code cell tagged `parameters` whose defaults are the real thing (the README's
quick start; a UTKFace run on a Colab accelerator); `inject_parameters` inserts a cell after it with
the CI values, as papermill does (without depending on papermill): the tiny pipeline, a few steps,
a small evaluation, a temporary working directory. Colab-only cells (install, Drive, uploads,
TensorBoard) are guarded in the notebooks themselves and are skipped here.

The kernel is ipykernel's own `python3` spec, which always runs this interpreter (`sys.executable`):
the kernel-spec manager is given no kernel folders, so a user's or system's `python3` spec pointing
at another Python cannot be picked up.
"""

import ast
import sys
import time
from pathlib import Path

import ipykernel  # noqa: F401  (the dev extra installs the notebook tooling: a missing one fails here)
import nbclient
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
QUICKSTART = NOTEBOOKS / "quickstart.ipynb"
COLAB = NOTEBOOKS / "colab_tpu_gpu.ipynb"
TINY_PIPELINE = "pipelines/ragan_synthetic_tiny.yaml"
CELL_TIMEOUT_S = 600


def parameters_cell_index(nb):
    """The index of the one code cell tagged `parameters`."""
    indices = [index for index, cell in enumerate(nb.cells)
               if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", [])]
    if len(indices) != 1:
        raise ValueError(f"expected one code cell tagged 'parameters', found {len(indices)}")
    return indices[0]


def notebook_parameters(nb):
    """`{name: value}` of the parameters cell's assignments (literals only)."""
    tree = ast.parse(nb.cells[parameters_cell_index(nb)].source)
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}


def inject_parameters(nb, values):
    """Inserts a code cell tagged `injected-parameters` assigning `values` right after the
    `parameters` cell (papermill's convention); refuses names the notebook does not define."""
    unknown = sorted(set(values) - set(notebook_parameters(nb)))
    if unknown:
        raise ValueError(f"not parameters of this notebook: {unknown}")
    lines = ["# Parameters injected by tests/test_notebooks.py"]
    lines += [f"{name} = {value!r}" for name, value in values.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(parameters_cell_index(nb) + 1, cell)
    return nb


# The tests' graph-optimizer setting (conftest.py), run in the kernel before the notebook's first cell:
# the same code path, without grappler's rewrites that cost more than they save on tiny few-step runs.
TEST_SETUP = ("import os\nos.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')\nimport tensorflow as tf\n"
              "tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': True})")


def with_test_setup(nb):
    """`nb` with a first code cell tagged `injected-setup` running `TEST_SETUP`."""
    cell = nbformat.v4.new_code_cell("# Injected by tests/test_notebooks.py\n" + TEST_SETUP)
    cell.metadata["tags"] = ["injected-setup"]
    nb.cells.insert(0, cell)
    return nb


def kernel_manager():
    """A kernel manager for ipykernel's `python3` kernel of this interpreter."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    manager = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    assert manager.kernel_spec.argv[0] == sys.executable, manager.kernel_spec.argv
    return manager


def execute(path, values, workdir):
    """Runs the notebook at `path` with `values` injected, in `workdir`; returns the executed
    notebook, its printed text and the seconds it took."""
    nb = with_test_setup(inject_parameters(nbformat.read(path, as_version=4), values))
    client = nbclient.NotebookClient(
        nb, km=kernel_manager(), kernel_name="python3", timeout=CELL_TIMEOUT_S, startup_timeout=120,
        resources={"metadata": {"path": str(workdir)}},
    )
    start = time.perf_counter()
    client.execute(cleanup_kc=True)  # shut the kernel down afterwards (nbclient leaves a kernel it was given alive)
    seconds = time.perf_counter() - start
    text = "".join(output.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for output in cell.outputs if output.output_type == "stream")
    return nb, text, seconds


def images_shown(nb):
    return sum("image/png" in output.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for output in cell.outputs)


# ----------------------------------------------------------------------------
# The files as stored


@pytest.mark.parametrize("path", [QUICKSTART, COLAB], ids=lambda path: path.name)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert "widgets" not in nb.metadata
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code_cells
    for index, cell in enumerate(code_cells):
        assert cell.outputs == [], f"code cell {index} of {path.name} has outputs: strip them"
        assert cell.execution_count is None, f"code cell {index} of {path.name} has an execution count"
        assert "execution" not in cell.metadata, f"code cell {index} of {path.name} has timing metadata"
    parameters_cell_index(nb)  # exactly one parameters cell


def test_quickstart_defaults_are_the_readme_quick_start():
    parameters = notebook_parameters(nbformat.read(QUICKSTART, as_version=4))
    assert parameters["PIPELINE"] == "pipelines/ragan_synthetic_quickstart.yaml"
    pipeline = yaml.safe_load((ROOT / parameters["PIPELINE"]).read_text())
    assert parameters["IMAGE_SIZE"] == pipeline["data"]["image_size"]
    assert parameters["EPOCHS"] == pipeline["training"]["epochs"]
    assert parameters["STEPS_PER_EPOCH"] == pipeline["training"]["steps_per_epoch"]
    assert parameters["RUN_DIR"] == pipeline["runtime"]["run_dir"]
    assert parameters["SHOW_TENSORBOARD"] is True
    assert (ROOT / parameters["PHOTO"]).is_file()


def test_colab_defaults_name_an_existing_pipeline():
    parameters = notebook_parameters(nbformat.read(COLAB, as_version=4))
    assert (ROOT / parameters["PIPELINE"]).is_file()
    assert parameters["STRATEGY"] == "auto"


def test_injected_cell_follows_the_parameters_cell():
    nb = nbformat.read(QUICKSTART, as_version=4)
    index = parameters_cell_index(nb)
    inject_parameters(nb, {"EPOCHS": 1, "AGES": [10, 60]})
    injected = nb.cells[index + 1]
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert "EPOCHS = 1\nAGES = [10, 60]" in injected.source
    with pytest.raises(ValueError, match="NO_SUCH"):
        inject_parameters(nb, {"NO_SUCH": 1})


# ----------------------------------------------------------------------------
# Executed top to bottom


def test_quickstart_notebook_runs(tmp_path):
    nb, text, seconds = execute(QUICKSTART, {
        "REPO_DIR": str(ROOT), "WORK_DIR": str(tmp_path), "PIPELINE": TINY_PIPELINE, "IMAGE_SIZE": 32,
        "EPOCHS": 1, "STEPS_PER_EPOCH": 2, "RUN_DIR": "run", "SHOW_TENSORBOARD": False, "EXPORT_DIR": "export",
        "AGES": [10, 60], "AGED_DIR": "aged", "EVAL_DIR": "evaluation", "EVAL_COUNT": 4, "EVAL_BASELINES": [],
        "ESTIMATOR_IDENTITIES": 20, "ESTIMATOR_EPOCHS": 1,
    }, tmp_path)
    print(f"quickstart.ipynb: {seconds:.1f} s")
    assert "ragan_tf is already importable: nothing to install." in text
    assert "--set data.image_size=32 --set training.epochs=1" in text
    run = tmp_path / "run"
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["image_size"] == 32
    assert sorted(path.name for path in (run / "samples").glob("epoch_*.png")) == ["epoch_001.png"]
    assert (tmp_path / "export" / "signature.json").is_file()
    assert (tmp_path / "export" / "saved_model.pb").is_file()
    for name in ("age_example_input_age10.png", "age_example_input_age60.png", "age_example_input_strip.png"):
        assert (tmp_path / "aged" / name).is_file(), name
    assert (tmp_path / "evaluation" / "summary.md").read_text().startswith("# Evaluation: model")
    assert (tmp_path / "evaluation" / "summary.csv").is_file()
    assert images_shown(nb) >= 3  # training grid, loss curves, aged strip, evaluation examples


def test_colab_notebook_runs_on_cpu(tmp_path):
    nb, text, seconds = execute(COLAB, {
        "REPO_DIR": str(ROOT), "WORK_DIR": str(tmp_path), "PIPELINE": TINY_PIPELINE, "EPOCHS": 1,
        "STEPS_PER_EPOCH": 2, "STORAGE_DIR": "storage", "RUN_DIR": "run", "EXPORT_DIR": "export",
    }, tmp_path)
    print(f"colab_tpu_gpu.ipynb: {seconds:.1f} s")
    assert "nothing to install." in text
    assert "Google Drive is not mounted" in text
    assert "nothing to prepare" in text
    assert "Strategy: runtime.strategy=default" in text
    storage = tmp_path / "storage"
    config = yaml.safe_load((storage / "run" / "config.yaml").read_text())
    assert config["runtime"]["strategy"] == "default"
    assert (storage / "export" / "signature.json").is_file()
    assert (storage / "export.tar.gz").is_file() and (storage / "export.tar.gz.sha256").is_file()
    assert images_shown(nb) >= 1  # the training grid
