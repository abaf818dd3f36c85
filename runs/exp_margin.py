import sys, numpy as np
from MIDeepSegLib.benchmark import folder_cases
from MIDeepSegLib.segmenter import Segmenter, _load_model
from MIDeepSegLib.simulate import interior_margin_points
from MIDeepSegLib.metrics import dice
folder, dim = sys.argv[1], int(sys.argv[2]); margins = [float(m) for m in sys.argv[3].split(",")]
model = _load_model("%dd" % dim, "cpu")
acc = {m: [] for m in margins}
for k, case in enumerate(folder_cases(folder, dim, axes=(0,))):
    rng = np.random.default_rng([0, dim, k])
    pts = interior_margin_points(case.truth, rng, case.spacing)
    line = "%-32s" % case.name
    for mm in margins:
        seg = Segmenter(case.image, case.spacing, model=model, device="cpu", margin_mm=mm)
        r = seg.initial(pts); m = r.mask.astype(bool); t = case.truth
        d = dice(m, t); acc[mm].append(d)
        line += " m%g=%.3f(p%.2f r%.2f)" % (mm, d, (m&t).sum()/max(m.sum(),1), (m&t).sum()/t.sum())
    print(line, flush=True)
print("MEAN", " ".join("m%g=%.3f" % (m, np.mean(v)) for m, v in acc.items()))
