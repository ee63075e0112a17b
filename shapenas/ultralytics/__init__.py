"""The one place that knows Ultralytics internals; the rest of shapenas goes through these small modules.

- `build`: YAML rows naming our modules become layers (a `parse_model` wrapper and stock stand-ins), `build_model`,
  model YAML loading and file naming.
- `probe`: the channels entering given layers, read from one small forward pass.
- `introspect`: what shapenas reads from a built model (layers, stride, input channels, a layer's convolution).
- `trainer` and `metrics`: what shapenas reads from a trainer, and Ultralytics' metric key names.
- `callbacks`: trainer callbacks (ODConv's temperature schedule).
- `fuse`: our modules take part in `model.fuse()` (BatchNorm folded for inference, export, predict and val).
- `export`: ONNX export of a model built in memory, as `YOLO.export(format="onnx")` writes it.
- `data`, `cfg`, `logs`: dataset YAML checks and image files, train arguments (`key=value` words read and checked as
  the `yolo` command does), Ultralytics' logger.
- `row_names`: what a model YAML row's module name and string arguments resolve to (`shapenas.model_yaml` checks).
- `lazy_install`: installs `build`'s bridge when Ultralytics' model builder loads, so `import shapenas` stays light
  (it names that module only as a string and imports nothing of Ultralytics or torch).
- `inherit`: starting a candidate from a trained parent (`inherit_weights`, and a check that training starts from
  the inherited weights); `checkpoint`: reading checkpoints
  without running code, and comparing architectures; `images`: a few real images for probing layers.

`tests/test_ultralytics_seam.py` pins every Ultralytics name these import and every attribute they read, so an
Ultralytics upgrade that changes one fails there first. Nothing outside this package imports `ultralytics`.
"""
