#!/usr/bin/env bash
# Train the shipped 2D and 3D models on a CPU-only machine, validate them on the unseen
# Colin27 structures and write their model cards:
#
#   Resources/Models/mideepseg_2d.pt + mideepseg_2d.md   (about BUDGET_2D seconds of training)
#   Resources/Models/mideepseg_3d.pt + mideepseg_3d.md   (about BUDGET_3D seconds of training)
#
# Usage:   scripts/train_models.sh [2d] [2d-finetune] [3d] [3d-finetune] [3d-finetune2] [3d-finetune3] [ablation]
#          (default: all but ablation: the shipped models' stages in order)
#   ablation: also train 2D models with the other cue-map encodings (bbox, euclidean, gaussian,
#             geodesic; ENCODINGS overrides the list) with the same budget, and validate them
#             (paper Table 2); not shipped. ITERATIONS_2D=7370 repeats the shipped model's budget.
# Environment: PYTHON (default .venv/bin/python), BUDGET_2D (default 1500 s), BUDGET_3D
#   (default 1800 s), ITERATIONS_2D / ITERATIONS_3D (skip the timing run and use these),
#   SEED (default 0), WORK (default out/training), MODELS (default Resources/Models).
#
# The *-finetune targets continue the model in Resources/Models from its previous stage (see below).
# Stage 1 of both models and stage 2 of the 3D model were trained before the "compound" random shape
# kind existed: they pass that time's shape mix (OLD_SHAPES) so that they replay exactly.
# Expected wall time on the 2-core development machine (AMD EPYC, no GPU): 2D training
# BUDGET_2D (25 min) + validation ~3 min; 3D training BUDGET_3D (30 min) + validation ~15 min
# (12 structures ~15 s each, then the whole brain: ~2 min per refinement click).
#
# Needs: apt-get install -y mricron-data (label maps for synthesis + the validation MRI).
# The iteration count is set from a 20-iteration timing run on this machine (the learning-rate
# schedule depends on it: constant for half the run, then halved every tenth), so the run ends
# close to its budget. Work files (checkpoints + .train.pt to resume from) go to out/training/.
# A run that was interrupted continues with the printed command plus --resume.
#
# On a 2-core shared CPU, 1 torch thread + 1 data worker process was 1.5-6x faster than the
# default 2 threads (OpenMP threads spin when the other core is busy).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
BUDGET_2D=${BUDGET_2D:-1500}
BUDGET_3D=${BUDGET_3D:-1800}
SEED=${SEED:-0}
WORK=${WORK:-out/training}
MODELS=${MODELS:-Resources/Models}
TEMPLATES=/usr/share/mricron/templates
export OMP_NUM_THREADS=1

# Shared by both models: synthetic data (random shapes + label-map synthesis, validation
# structures removed), seeded, one data worker, one torch thread.
COMMON=(--data synthetic --workers 1 --threads 1 --device cpu --lr 5e-4 --val-size 64)
OLD_SHAPES=(--shape-kinds blob=0.3 elongated=0.2 concave=0.2 lobulated=0.15 holed=0.15)
# 2D: the paper's network (16-32-64-128-256) and 64 x 64 grid.
ARGS_2D=(--dim 2 --batch-size 8)
# 3D: a smaller configuration for CPU (the paper's is 16-256 on 64 x 96 x 96).
ARGS_3D=(--dim 3 --features 16 32 64 128 --input-size 32 48 48 --batch-size 4)

if [ ! -f "$TEMPLATES/aal.nii.gz" ]; then
    echo "mricron-data is missing: apt-get install -y mricron-data" >&2
    exit 1
fi
mkdir -p "$WORK" "$MODELS"

seconds_per_iteration() {  # a 20-iteration run of the same configuration; prints s/it
    rm -f "$WORK/timing.pt" "$WORK/timing.train.pt"
    "$PY" -m MIDeepSegLib.cli train "$@" "${COMMON[@]}" --seed "$SEED" --iterations 20 --val-every 20 --val-size 1 \
        --out "$WORK/timing.pt" --quiet
    "$PY" -c "import torch; s = torch.load('$WORK/timing.train.pt', weights_only=True); print(s['seconds'] / 20)"
}

iterations_for() {  # budget_s s_per_it -> iterations (5 % kept for validation and checkpoints)
    "$PY" -c "print(max(100, int(0.95 * $1 / $2) // 10 * 10))"
}

train_one() {  # name budget fixed_iterations args...
    local name=$1 budget=$2 fixed=$3
    shift 3
    local iterations=$fixed
    if [ -z "$iterations" ]; then
        local per_it
        per_it=$(seconds_per_iteration "$@")
        iterations=$(iterations_for "$budget" "$per_it")
        echo "$name: $per_it s/iteration measured -> $iterations iterations for $budget s"
    fi
    local val_every=$(( iterations / 20 > 0 ? iterations / 20 : 1 ))
    local command=("$PY" -m MIDeepSegLib.cli train "$@" "${COMMON[@]}" --seed "$SEED" --iterations "$iterations"
                   --val-every "$val_every" --out "$WORK/$name.pt")
    echo "${command[*]}"
    "${command[@]}"
}

finetune() {  # name seed_offset iterations val_every args... -> continues $MODELS/name.pt into $WORK/name.pt
    local name=$1 offset=$2 iterations=$3 val_every=$4
    shift 4
    "$PY" -m MIDeepSegLib.cli train "$@" "${COMMON[@]}" --seed "$((SEED + offset))" --iterations "$iterations" \
        --val-every "$val_every" --init "$MODELS/$name.pt" --out "$WORK/${name}_ft.pt"
    cp "$WORK/${name}_ft.pt" "$WORK/$name.pt"
}

validate_one() {  # name [validate options] -> copies the model to Resources/Models, validates, writes the card
    local name=$1
    shift
    cp "$WORK/$name.pt" "$MODELS/$name.pt"
    "$PY" -m MIDeepSegLib.cli validate "$MODELS/$name.pt" --seed "$SEED" --record "$@" \
        --json "$WORK/${name}_validation.json" --markdown "$WORK/${name}_validation.md" --card "$MODELS/$name.md"
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(2d 2d-finetune 3d 3d-finetune 3d-finetune2 3d-finetune3)
for target in "${targets[@]}"; do
    case $target in
        2d)
            train_one mideepseg_2d "$BUDGET_2D" "${ITERATIONS_2D:-}" "${ARGS_2D[@]}" "${OLD_SHAPES[@]}"
            validate_one mideepseg_2d ;;
        2d-finetune)
            # Stage 2 of the shipped 2D model: 6000 more iterations with compound shapes in the
            # data (seed 2); 14 min here. Deep grey 0.839 -> 0.841 initial; MNI152 brain 0.875 -> 0.894.
            finetune mideepseg_2d 2 "${ITERATIONS_2D_FT:-6000}" 300 "${ARGS_2D[@]}"
            validate_one mideepseg_2d ;;
        3d)
            train_one mideepseg_3d "$BUDGET_3D" "${ITERATIONS_3D:-}" "${ARGS_3D[@]}" "${OLD_SHAPES[@]}"
            # 3D whole brain: each refinement is a graph cut on ~3.5 M voxels (~130 s on this CPU)
            validate_one mideepseg_3d --brain-clicks 5 ;;
        3d-finetune)
            # Stage 2 of the shipped 3D model: 3000 more iterations from the stage-1 weights in
            # Resources/Models (optimiser and schedule afresh, new examples: seed 1); 57 min here.
            # Initial Dice on the unseen deep grey structures 0.715 -> 0.741 (docs/training.md).
            finetune mideepseg_3d 1 "${ITERATIONS_3D_FT:-3000}" 150 "${ARGS_3D[@]}" "${OLD_SHAPES[@]}"
            validate_one mideepseg_3d --brain-clicks 5 ;;
        3d-finetune2)
            # Stage 3: 2500 more iterations with compound shapes in the data (seed 2); 35 min here.
            # Deep grey 0.741 -> 0.752 initial; whole brain (6 seeds) Colin27 0.755 -> 0.775, MNI152 0.872 -> 0.896.
            finetune mideepseg_3d 2 "${ITERATIONS_3D_FT2:-2500}" 125 "${ARGS_3D[@]}"
            validate_one mideepseg_3d --brain-clicks 5 ;;
        3d-finetune3)
            # Stage 4: 3000 more iterations, compound shapes, seed 3; 40 min here. Deep grey
            # 0.752 -> 0.760 initial; whole brain (6 seeds) Colin27 0.775 -> 0.803, MNI152 0.896 -> 0.924.
            finetune mideepseg_3d 3 "${ITERATIONS_3D_FT3:-3000}" 150 "${ARGS_3D[@]}"
            validate_one mideepseg_3d --brain-clicks 5 ;;
        ablation)
            # Paper Table 2: the same 2D network, data, seed and iterations with each other
            # cue-map encoding; validated next to the EGD model, used by `mideepseg benchmark
            # --encoding-model`; not shipped.
            for encoding in ${ENCODINGS:-bbox euclidean gaussian geodesic}; do
                train_one "ablation_2d_$encoding" "$BUDGET_2D" "${ITERATIONS_2D:-}" "${ARGS_2D[@]}" \
                    "${OLD_SHAPES[@]}" --encoding "$encoding"
                "$PY" -m MIDeepSegLib.cli validate "$WORK/ablation_2d_$encoding.pt" --seed "$SEED" \
                    --json "$WORK/ablation_2d_${encoding}_validation.json" \
                    --markdown "$WORK/ablation_2d_${encoding}_validation.md"
            done ;;
        *)
            echo "unknown target $target (2d, 2d-finetune, 3d, 3d-finetune, 3d-finetune2, 3d-finetune3, ablation)" >&2
            exit 2 ;;
    esac
done
ls -l "$MODELS"
