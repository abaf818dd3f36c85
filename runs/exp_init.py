import sys, time, numpy as np
from MIDeepSegLib.benchmark import folder_cases
from MIDeepSegLib.segmenter import Segmenter, _load_model
from MIDeepSegLib.simulate import interior_margin_points
from MIDeepSegLib.crop import shift_points
from MIDeepSegLib.metrics import dice
from MIDeepSegLib.graphcut import graph_cut
from MIDeepSegLib.intensity import rescale_unit
from MIDeepSegLib._validation import points_to_mask
from MIDeepSegLib.refinement import refine_ifgc, click_reaches

def window_unit(crop, prob, k=3.0):
    inside = crop[prob >= 0.5]
    if inside.size < 10: return rescale_unit(crop)
    lo, med, hi = np.percentile(inside, [10, 50, 90])
    half = k * max(hi - lo, 1e-6)
    return np.clip((crop - (med - half)) / (2 * half), 0, 1).astype(np.float32)

folder, dim = sys.argv[1], int(sys.argv[2])
model = _load_model("%dd" % dim, "cpu")
cases = folder_cases(folder, dim, axes=(0,))
res_all = {}
for k, case in enumerate(cases):
    rng = np.random.default_rng([0, dim, k])
    pts = interior_margin_points(case.truth, rng, case.spacing)
    seg = Segmenter(case.image, case.spacing, model=model, device="cpu")
    r = seg.initial(pts)
    box = r.box; crop = case.image[box].astype(np.float32); P = r.probability_crop; truth = case.truth[box]
    loc = shift_points(pts, box); fg = points_to_mask(loc, crop.shape)
    out = {"cnn": dice(r.mask_crop, truth)}
    for name, unit in (("pct", rescale_unit(crop)), ("win2", window_unit(crop, P, 2.0)), ("win4", window_unit(crop, P, 4.0))):
        for lam in (0.5, 2.0):
            m = graph_cut(unit, P, case.spacing, fg, None, lam=lam, sigma=0.2)
            out["gc_%s_l%g" % (name, lam)] = dice(m, truth)
    for name, unit in (("pct", None),):
        rr = refine_ifgc(crop, P, loc, np.zeros((0, dim)), case.spacing, lam=0.5, sigma=0.2, **click_reaches(crop.shape, case.spacing))
        out["ifgc"] = dice(rr.mask, truth)
    print(case.name, " ".join("%s=%.3f" % kv for kv in out.items()), flush=True)
    for a, b in out.items(): res_all.setdefault(a, []).append(b)
print("MEAN", " ".join("%s=%.3f" % (a, np.mean(b)) for a, b in res_all.items()))
