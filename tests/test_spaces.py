"""Search spaces: params <-> candidates, deterministic YAML, AKConv shapes, samplers, presets, and `shapenas space`."""

import itertools
import random

import optuna
import pytest
import yaml
from optuna.trial import FixedTrial

import shapenas  # noqa: F401  (registers the modules with Ultralytics for DetectionModel(path))
from shapenas.cli import main
from shapenas.config import config_from_dict, load_config
from shapenas.modules.akconv_shapes import canonical
from shapenas.spaces import Candidate, Choice, SearchSpace
from shapenas.spaces.akconv_space import ShapeChoices, cells_to_points, free_shape_count
from shapenas.spaces.yaml_text import model_yaml_text

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def space():
    return SearchSpace(config_from_dict({"base": "yolov8n.yaml"}))


@pytest.fixture(scope="module")
def free_space():
    """One AKConv slot with free shapes only: every sample exercises the cell encoding."""
    akconv = {"num_param": [3, 9], "shapes": ["free"], "window": 5}
    off = {"enabled": False}
    space = {"slots": [3], "akconv": akconv, "odconv": off, "spconv": off, "dynamic_conv": off}
    config = {"base": "yolov8n.yaml", "space": space, "search": {"presets": ["baseline"]}}
    return SearchSpace(config_from_dict(config))


def _random_candidates(space, count, seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(count):
        trial = study.ask()
        candidate = space.suggest(trial)
        yield trial.params, candidate


def test_params_round_trip_with_fixed_trial(space):
    for params, candidate in _random_candidates(space, 40):
        assert space.from_params(params) == candidate
        assert space.suggest(FixedTrial(params)) == candidate
        again = space.to_params(candidate)
        assert space.from_params(again) == candidate
        assert space.to_params(space.from_params(again)) == again
        assert Candidate.from_dict(candidate.to_dict()) == candidate
        assert Candidate.from_dict(candidate.to_dict()).key() == candidate.key()


@pytest.mark.filterwarnings("ignore:The value 30 of the parameter")  # FixedTrial only warns; from_params raises
def test_from_params_is_strict(space):
    params = space.to_params(space.baseline())
    with pytest.raises(ValueError, match="not used by this space"):
        space.from_params({**params, "L99.module": "Conv"})
    with pytest.raises(ValueError):
        space.from_params({**params, "L1.module": "AKConv", "L1.akconv.n": 30, "L1.akconv.shape": "regular"})
    with pytest.raises(ValueError):
        space.from_params({k: v for k, v in params.items() if k != "L1.module"})


def test_param_names_never_collide(space):
    names = set()
    for params, _ in _random_candidates(space, 60, seed=1):
        names |= set(params)
    assert all(name.startswith("L") and name.split(".")[0][1:].isdigit() for name in names)
    by_layer = {}
    for name in names:
        by_layer.setdefault(name.split(".")[0], set()).add(name)
    assert set(by_layer) == {slot.name for slot in space.slots}


def test_render_is_deterministic_and_keeps_only_the_scale(space):
    for _, candidate in _random_candidates(space, 10, seed=2):
        first, second = space.render(candidate), space.render(candidate)
        assert first == second and list(first) == ["nc", "scales", "scale", "backbone", "head"]
        assert model_yaml_text(first) == model_yaml_text(second)
        assert yaml.safe_load(model_yaml_text(first)) == first
        assert first["scales"] == {"n": [0.33, 0.25, 1024]} and first["scale"] == "n"
    baseline = space.render(space.baseline())
    base = space.config.base_yaml
    assert (baseline["backbone"], baseline["head"]) == (base["backbone"], base["head"])


def test_akconv_rows_carry_exact_points(space):
    choice = Choice.of("AKConv", "line_h", num_param=4, points=((0, 0), (0, 1), (0, 2), (0, 3)))
    row = space.render(Candidate.of({3: choice}))["backbone"][3]
    assert row == [-1, 1, "AKConv", [256, 4, 2, [[0, 0], [0, 1], [0, 2], [0, 3]]]]
    assert Candidate.of({3: choice}).summary() == "L3:AKConv(n=4,line_h)"


def test_free_form_cells_always_give_valid_shapes():
    rng = random.Random(0)
    for _ in range(2000):
        window = rng.randint(2, 7)
        n = rng.randint(1, window * window)
        points = cells_to_points([rng.randrange(window * window) for _ in range(n)], window)
        assert len(set(points)) == n == len(points)
        assert points == canonical(points)
        assert all(0 <= r < window and 0 <= c < window for r, c in points)


def test_free_form_samples_are_valid(free_space):
    for _, candidate in _random_candidates(free_space, 100, seed=3):
        choice = candidate.choice_at(3)
        if choice is None:
            continue
        points, n = choice.get("points"), choice.get("num_param")
        assert len(set(points)) == n and points == canonical(points) and choice.label == "free"
        assert max(max(p) for p in points) < 5


def test_translated_shapes_get_one_key(free_space):
    base = {"L3.module": "AKConv", "L3.akconv.n": 3}
    corner = {**base, "L3.akconv.cell0": 0, "L3.akconv.cell1": 1, "L3.akconv.cell2": 6}  # (0,0) (0,1) (1,1)
    moved = {**base, "L3.akconv.cell0": 18, "L3.akconv.cell1": 19, "L3.akconv.cell2": 24}  # (3,3) (3,4) (4,4)
    collided = {**base, "L3.akconv.cell0": 0, "L3.akconv.cell1": 0, "L3.akconv.cell2": 6}  # repair: 0 -> 1
    keys = {free_space.from_params(p).key() for p in (corner, moved, collided)}
    assert len(keys) == 1
    assert free_space.from_params(moved) == free_space.from_params(corner)


def test_shape_count_matches_enumeration():
    shapes = ShapeChoices(["regular", "line_h", "free"], window=3)
    for n in (2, 3, 4):
        seen = {cells_to_points(list(cells), 3) for cells in itertools.product(range(9), repeat=n)}
        seen.add(shapes.suggest(FixedTrial({"x.shape": "regular"}), "x", n)[1])
        seen.add(shapes.suggest(FixedTrial({"x.shape": "line_h"}), "x", n)[1])
        assert shapes.count(n) == len(seen)
    assert free_shape_count(1, 5) == 1 and free_shape_count(2, 2) == 4


def test_size_is_the_product_of_slot_counts():
    config = {
        "base": "yolov8n.yaml",
        "space": {
            "slots": [1, 10],
            "akconv": {"num_param": [3, 4], "shapes": ["regular", "line_h"]},
            "odconv": {"kernel_num": [1, 4]},
            "spconv": {"enabled": False},
            "dynamic_conv": {"num_experts": [4]},
            "dysample": {"style": ["lp"], "groups": [1, 4]},
        },
        "search": {"presets": ["baseline"]},
    }
    space = SearchSpace(config_from_dict(config))
    # L1: Conv + AKConv 2 N x 2 shapes + ODConv 2 + DynamicConv 1 = 8; L10: nn.Upsample + DySample 2 = 3
    assert space.size() == 8 * 3


def test_choices_are_valid_for_the_slot_channels(space):
    stem = space.choices[0]
    assert stem.slot.c1 == 3
    assert "SPConv" not in stem.modules or stem.by_module["SPConv"].values == [0.75]
    for slot in space.slots:
        if slot.kind == "upsample":
            for style, groups in space.choices[slot.index].by_module["DySample"].groups_by_style.items():
                assert all(slot.c1 % g == 0 for g in groups)
                assert style == "lp" or all(slot.c1 // 4 >= g for g in groups)


def test_presets(space):
    presets = space.presets()
    assert presets["baseline"] == Candidate() and presets["baseline"].summary() == "baseline"
    authors = presets["akconv_authors"]
    assert [i for i, _ in authors.choices] == [1, 3, 5, 7, 16, 19]  # every stride-2 3x3 Conv but the stem
    assert all(c.module == "AKConv" and c.get("num_param") == 5 for _, c in authors.choices)
    assert space.from_params(space.to_params(authors)) == authors
    assert [name for name, _ in space.enqueued_presets()] == ["baseline", "akconv_authors"]


@pytest.mark.parametrize("sampler", ["nsga2", "tpe"])
def test_samplers_ask_and_tell_without_distribution_errors(space, sampler):
    make = {
        "nsga2": lambda: optuna.samplers.NSGAIISampler(population_size=4, seed=0),
        "tpe": lambda: optuna.samplers.TPESampler(n_startup_trials=3, seed=0),
    }[sampler]
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=make())
    study.enqueue_trial(space.to_params(space.presets()["akconv_authors"]))
    rng = random.Random(0)
    for _ in range(10):
        trial = study.ask()
        candidate = space.suggest(trial)
        assert space.from_params(trial.params) == candidate
        study.tell(trial, [rng.random(), rng.random()])
    assert len(study.trials) == 10
    assert space.from_params(study.trials[0].params) == space.presets()["akconv_authors"]


def test_space_command_prints_slots_and_size(capsys):
    assert main(["space", "configs/quickstart.yaml", "--set", "space.slots=downsample"]) == 0
    out = capsys.readouterr().out
    assert "space size:" in out and "3 -> 16" in out and "128 -> 256" in out
    assert "nn.Upsample" not in out  # downsample slots only


def test_space_command_samples_and_writes_yamls(tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert main(["space", "configs/quickstart.yaml", "--sample", "3", "--out", str(out_dir), "--seed", "1"]) == 0
    out = capsys.readouterr().out
    imgsz = load_config("configs/quickstart.yaml").cost.imgsz  # GFLOPs at the deployment size, not the proxy's
    assert out.count(f"GFLOPs @{imgsz}") == 3 and "params:" in out
    files = sorted(out_dir.glob("*.yaml"))
    assert len(files) == 3
    from ultralytics.nn.tasks import DetectionModel

    DetectionModel(str(files[0]), verbose=False)  # an exported file builds from its path, at the scale it names


def test_space_command_says_which_values_a_slot_drops_and_why(capsys):
    overrides = ["--set", "space.slots=[0, 10]", "--set", "space.dysample.groups=[3, 4]", "--set", "search.presets=[]"]
    assert main(["space", "configs/quickstart.yaml", *overrides]) == 0
    out = capsys.readouterr().out
    table, _, dropped = out.partition("not offered (the module refuses these values at that slot):\n")
    assert dropped, out
    # the RGB stem cannot be split by SPConv at ratio 0.25 or 0.5 (0.75 stays offered); 256 channels not by 3 groups
    assert "  L0 SPConv ratio=0.25: SPConv: cannot split c1=3 with ratio=0.25" in dropped
    assert "  L0 SPConv ratio=0.5: SPConv: cannot split c1=3 with ratio=0.5" in dropped
    assert "  L10 DySample style=lp,groups=3: DySample: c must be divisible by groups, got c=256, groups=3" in dropped
    assert "SPConv(ratio 0.75)" in table and "ratio=0.75" not in dropped
    assert "DySample(lp g4; pl g4)" in table
