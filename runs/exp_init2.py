import sys, numpy as np
from MIDeepSegLib.benchmark import folder_cases
from MIDeepSegLib.segmenter import Segmenter, _load_model, _components_at
from MIDeepSegLib.simulate import interior_margin_points
from MIDeepSegLib.crop import shift_points
from MIDeepSegLib.metrics import dice
from MIDeepSegLib.refinement import refine_ifgc, click_reaches
folder, dim = sys.argv[1], int(sys.argv[2]); margins = [float(m) for m in sys.argv[3].split(",")]
variants = [(None,5.0),(0.2,5.0),(0.5,5.0),(1.0,5.0),(0.5,3.0),(0.5,8.0)]
model = _load_model("%dd" % dim, "cpu")
acc = {}
for k, case in enumerate(folder_cases(folder, dim, axes=(0,))):
    rng = np.random.default_rng([0, dim, k])
    pts = interior_margin_points(case.truth, rng, case.spacing)
    line = "%-28s" % case.name[:28]
    for mm in margins:
        seg = Segmenter(case.image, case.spacing, model=model, device="cpu", margin_mm=mm)
        r = seg.initial(pts); t = case.truth[r.box]; crop = case.image[r.box].astype(np.float32); loc = shift_points(pts, r.box)
        out = {"m%g_cnn" % mm: dice(r.mask_crop, t)}
        for reach, ds in variants:
            rr = refine_ifgc(crop, r.probability_crop, loc, np.zeros((0, dim)), case.spacing, lam=0.5, sigma=0.2, distance_scale=ds, **click_reaches(crop.shape, case.spacing, reach, None))
            out["m%g_r%s_s%g" % (mm, reach, ds)] = dice(_components_at(rr.mask, loc), t) + (dice(r.mask, case.truth) - dice(r.mask_crop, t))
        for a, b in out.items(): acc.setdefault(a, []).append(b)
        line += " ".join("%.3f" % v for v in out.values()) + " |"
    print(line, flush=True)
for a, b in acc.items(): print("MEAN %s %.3f" % (a, np.mean(b)))
