"""Model cards: the Markdown page shipped next to each model file.

The checkpoint's configuration holds the card's facts (its ``card`` entry is
filled by :func:`~MIDeepSegLib.training.loop.train`: architecture, data, command,
hardware, time); :func:`render_model_card` turns them and the validation
results (:func:`~MIDeepSegLib.evaluation.validation.validate_unseen`) into Markdown, and
:func:`record_validation` stores the validation summary in the checkpoint.
"""

import dataclasses
import json
from pathlib import Path

from ..model.checkpoint import read_payload, load_checkpoint, save_checkpoint
from ..model.preprocess import network_grid
from ..settings import FINER_GRID_CELLS, for_dimension
from .user import REPORTED_CLICKS, click_label, value_at

#: The training / validation split, stated in every card.
SPLIT = (
    "Validation structures never seen in training: the AAL caudate (71/72), putamen (73/74), pallidum "
    "(75/76), thalamus (77/78), hippocampus (37/38) and amygdala (41/42) are removed from every training "
    "atlas on the AAL grid (AAL itself; Brodmann: their voxels, dilated by one voxel; AICHA: its parcels of "
    "the same structures) and become unlabelled tissue, so they are never targets and their boundaries "
    "are not drawn. The whole brain is never a target (unions of at most three adjacent labels are). The "
    "Colin27 T1 image (ch2.nii.gz) on which validation runs is not used in training: training images are "
    "synthesised from label maps and random shapes.")


def render_model_card(config, *, file_name=None, validation=None):
    """Markdown model card of a model.

    Parameters
    ----------
    config : ModelConfig
        With the ``card`` written by training.
    file_name : str, optional
        The model file's name, for the title.
    validation : dict or list of dict, optional
        Results of :func:`~MIDeepSegLib.evaluation.validation.validate_unseen`.

    Returns
    -------
    str
    """
    training = config.card.get("training") or {}
    title = "MIDeepSeg {}D model".format(config.spatial_dims)
    if file_name:
        title += " (`{}`)".format(file_name)
    rows = [
        ("Architecture", training.get("architecture") or "UNet {}D, features {}".format(
            config.spatial_dims, list(config.features))),
        ("Input grid", _grid_text(config)),
        ("Normalisation", "{}: the crop's mean and standard deviation".format(config.normalisation)
         if config.normalisation == "zscore" else config.normalisation),
        ("Cue-map encoding", config.encoding),
        ("Relaxed-box margin", "{:g} mm".format(config.margin_mm)),
        ("Training data", _data_text(training.get("data"))),
        ("Training / validation split", SPLIT),
        ("Training command", "`{}`".format(training["command"]) if training.get("command") else "-"),
        ("Training recipe", "; ".join(str(training[k]) for k in ("loss", "optimizer", "schedule",
                                                                  "augmentation") if training.get(k))),
        ("Iterations", "{} x batch {} x {} process(es)".format(training.get("iterations_done"),
                                                               training.get("batch_size_per_process"),
                                                               training.get("processes"))
         if training else "-"),
        ("Training time", "{:.0f} s ({:.1f} h)".format(training["seconds"], training["seconds"] / 3600)
         if training.get("seconds") is not None else "-"),
        ("Hardware", _hardware_text(training.get("hardware"))),
        ("Seed", str(training.get("seed", "-"))),
        ("Synthetic validation Dice", "{:.3f} on {} held-out generated examples (input grid)".format(
            training["synthetic_validation_dice"], training.get("synthetic_validation_examples"))
         if training.get("synthetic_validation_dice") is not None else "-"),
        ("Library version", config.library_version),
    ]
    start = config.card.get("initialised_from")
    if start:  # fine-tuned: the starting weights' own training is part of the model's cost
        rows.insert(-1, ("Initialised from", _start_text(start, training.get("data"), config.input_size)))
    lines = ["# " + title, "", "| | |", "|---|---|"]
    lines += ["| {} | {} |".format(k, str(v).replace("|", "\\|").replace("\n", " ")) for k, v in rows]
    lines += ["", "## Validation on unseen structures", ""]
    results = [] if validation is None else (validation if isinstance(validation, list) else [validation])
    if not results:
        lines.append("Not validated yet: run `mideepseg validate MODEL --card THIS_FILE`.")
    for result in results:
        settings = result["settings"]
        cap = "up to {} clicks".format(settings["max_clicks"])
        if settings.get("brain_max_clicks") is not None:
            cap += " ({} for the whole brain)".format(settings["brain_max_clicks"])
        text = ("{}. Simulated user: interior margin points, then one click per refinement on the largest "
                "error region; seed {}, {}; after 5 clicks a case stops once it reaches the target Dice. "
                "{}".format(settings["data"], settings["seed"], cap,
                            "2D: " + settings["slices"] + "." if settings.get("slices") else "3D volumes."))
        if settings.get("refinement"):  # results recorded before it was stored do not say
            text += " Refinement settings: {}.".format(", ".join(
                "{} {}".format(name.replace("_", " "), _setting_text(value))
                for name, value in settings["refinement"].items()))
        lines += [text, "", markdown_table(result)]
    return "\n".join(lines).rstrip() + "\n"


def _grid_text(config):
    """The trained grid, and the finer one the Segmenter runs the network on for large crops."""
    text = " x ".join(map(str, config.input_size)) + " voxels (array order); every crop is resized to it " \
                                                       "(linear interpolation)"
    cells = for_dimension(FINER_GRID_CELLS, config.spatial_dims)
    if cells:
        larger = [2 * n for n in config.input_size]  # any crop the trained grid would shrink
        finer = network_grid(larger, config.input_size, config.size_multiple, cells)
        text += ", or to {} where this grid would shrink it (`settings.FINER_GRID_CELLS`)".format(
            " x ".join(map(str, finer)))
    return text


def _start_text(start, data, grid):
    """The chain of checkpoints a fine-tuned model started from, earliest last.

    A stage whose training data differ from the model's own (`data`), or whose
    input grid differs from the model's (`grid`), says so.
    """
    stages = []
    while start:
        before = start.get("training") or {}
        text = "`{}`, itself trained {} iterations in {:.0f} s".format(
            start.get("checkpoint"), before.get("iterations_done", "?"), before.get("seconds") or 0)
        if before.get("data") and before["data"] != data:
            text += " on other data ({})".format(_data_text(before["data"]))
        if start.get("input_size") and tuple(start["input_size"]) != tuple(grid):
            text += " at input grid {}".format(" x ".join(map(str, start["input_size"])))
        stages.append(text + ": `{}`".format(before.get("command", "-")))
        start = start.get("initialised_from")
    return "; that one initialised from ".join(stages)


def _data_text(data):
    if not data:
        return "-"
    parts = data.get("parts") if data.get("source") == "mixture" else [data]
    texts = []
    for part in parts:
        weight = " (weight {:g})".format(part["weight"]) if "weight" in part else ""
        if part["source"] == "label-map synthesis":
            maps = "; ".join("{} [{} target labels; {}]".format(m["name"], m["targets"], m["note"])
                             for m in part["label_maps"])
            texts.append("images synthesised from label maps{}: {}".format(weight, maps))
        elif part["source"] == "random shapes":
            texts.append("random shapes{}: {}".format(weight, ", ".join(sorted(part["kinds"]))))
        elif part["source"] == "folder":
            texts.append("folder {}{} ({} cases)".format(part["root"], weight, len(part["cases"])))
        else:
            texts.append(json.dumps(part))
    return "; ".join(texts)


def _hardware_text(hardware):
    if not hardware:
        return "-"
    device = hardware.get("gpu") or hardware.get("cpu")
    return "{} ({}), {} process(es), {} CPU cores, torch {} {} threads".format(
        hardware.get("device"), device, hardware.get("processes"), hardware.get("cpu_count"),
        hardware.get("torch"), hardware.get("torch_threads"))


def record_validation(checkpoint_path, results):
    """Store the validation summaries in the checkpoint's card (rewrites the file, same precision).

    Parameters
    ----------
    checkpoint_path : str or os.PathLike
    results : dict or list of dict
        :func:`~MIDeepSegLib.evaluation.validation.validate_unseen` results.
    """
    path = Path(checkpoint_path)
    half = read_payload(path).get("weights_dtype") == "float16"
    network, config = load_checkpoint(path)
    results = results if isinstance(results, list) else [results]
    card = dict(config.card)
    card["validation"] = [{"settings": r["settings"], "summary": r["summary"]} for r in results]
    save_checkpoint(path, network, dataclasses.replace(config, card=card), half=half)
    return path


def markdown_table(results):
    """Per-case and summary Markdown tables of :func:`validate_unseen` results."""
    settings = results["settings"]
    cap = settings["max_clicks"]
    ks = [k for k in REPORTED_CLICKS if k <= cap]
    head = (["case"] + ["Dice {}".format(click_label(k)) for k in ks]
            + ["ASSD {} (mm)".format(click_label(k)) for k in ks]
            + ["clicks to Dice {:.2f}".format(settings["target_dice"])])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for group, summary in results["summary"].items():
        row = ["**mean, {} ({} cases)**".format(group, summary["cases"])]
        row += ["**{:.3f}**".format(summary["dice"][str(k)]) for k in ks]
        row += ["**{:.2f}**".format(summary["assd"][str(k)]) for k in ks]
        row += ["**{:.1f}** ({}/{} reached)".format(summary["clicks_to_target_mean"], summary["reached"],
                                                   summary["cases"])]
        lines.append("| " + " | ".join(row) + " |")
    for case in results["cases"]:
        name = case["case"] + ("" if case["axis"] is None else " ({}={})".format(case["axis"], case["slice"]))
        reached = case["clicks_to_target"]
        row = [name] + ["{:.3f}".format(value_at(case["dice"], k)) for k in ks]
        row += ["{:.2f}".format(value_at(case["assd"], k)) for k in ks]
        row.append(str(reached) if reached is not None else "> {}".format(cap))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _setting_text(value):
    """A refinement setting as text: a number, on/off, none, or one per dimension ({"2d": 0.2, "3d": 0.3} -> "2D 0.2 / 3D 0.3")."""
    if isinstance(value, dict):
        return " / ".join("{} {}".format(dim.upper(), _setting_text(v)) for dim, v in sorted(value.items()))
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return "{:g}".format(value)
