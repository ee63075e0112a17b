"""A model using every registered module trains with stock Ultralytics, reloads in a new process, validates,
predicts and exports to ONNX with onnxruntime matching PyTorch."""

import json
import subprocess
import sys
import textwrap

import pytest
import yaml
from ultralytics import YOLO

from shapenas import add_temperature_schedule
from shapenas.modules import MODULES
from tests.yaml_fixtures import all_modules_yaml, used_modules

RELOAD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, onnxruntime, torch
    import shapenas, ultralytics
    weights, data = sys.argv[1], sys.argv[2]
    model = ultralytics.YOLO(weights)
    names = sorted({type(m).__name__ for m in model.model.model})
    metrics = model.val(data=data, imgsz=64, batch=8, workers=0, plots=False, device="cpu", verbose=False)
    boxes = model.predict(np.zeros((64, 64, 3), dtype=np.uint8), imgsz=64, device="cpu", verbose=False)[0].boxes
    onnx_path = model.export(format="onnx", imgsz=64, simplify=False, dynamic=False, device="cpu")
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    session = onnxruntime.InferenceSession(onnx_path)
    (onnx_out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    torch_model = ultralytics.YOLO(weights).model.float().fuse().eval()
    with torch.no_grad():
        torch_out = torch_model(x)[0].numpy()
    print(json.dumps({"names": names, "map": float(metrics.box.map), "boxes": len(boxes),
                      "max_diff": float(np.abs(onnx_out - torch_out).max()), "shape": list(onnx_out.shape)}))
    """
)


@pytest.mark.slow
def test_train_reload_validate_predict_export(tmp_path, tiny_data):
    model_dict = all_modules_yaml("yolov8n.yaml")
    assert set(MODULES) <= used_modules(model_dict)
    model_dict.pop("yaml_file"), model_dict.pop("scale")
    cfg = tmp_path / "yolov8n-all.yaml"
    cfg.write_text(yaml.safe_dump(model_dict, sort_keys=False))

    model = YOLO(str(cfg))
    add_temperature_schedule(model, share=0.5)
    model.train(
        data=str(tiny_data),
        epochs=1,
        imgsz=64,
        batch=8,
        workers=0,
        device="cpu",
        amp=False,
        plots=False,
        project=str(tmp_path),
        name="train",
        exist_ok=True,
        verbose=False,
        seed=0,
    )
    weights = tmp_path / "train" / "weights" / "last.pt"
    assert weights.exists()

    done = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(weights), str(tiny_data)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(MODULES) <= set(result["names"])
    assert 0.0 <= result["map"] <= 1.0
    classes = len(yaml.safe_load(tiny_data.read_text())["names"])
    assert result["shape"][:2] == [1, 4 + classes]  # training sets nc from the dataset
    assert result["max_diff"] < 1e-3
