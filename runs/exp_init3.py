import sys, numpy as np
from MIDeepSegLib.benchmark import folder_cases
from MIDeepSegLib.segmenter import Segmenter, _load_model
from MIDeepSegLib.simulate import interior_margin_points
from MIDeepSegLib.metrics import dice
folder, dim = sys.argv[1], int(sys.argv[2])
variants = [dict(a.split("=") for a in v.split(";")) for v in sys.argv[3:]]
model = _load_model("%dd" % dim, "cpu")
acc = {}
for k, case in enumerate(folder_cases(folder, dim, axes=(0,))):
    rng = np.random.default_rng([0, dim, k])
    pts = interior_margin_points(case.truth, rng, case.spacing)
    line = "%-28s" % case.name[:28]
    for i, v in enumerate(variants):
        kw = {a: float(b) for a, b in v.items()}
        r = Segmenter(case.image, case.spacing, model=model, device="cpu", **kw).initial(pts)
        d = dice(r.mask, case.truth); acc.setdefault(i, []).append(d); line += " %.3f" % d
    print(line, flush=True)
for i, v in enumerate(variants): print("MEAN %.3f %s" % (np.mean(acc[i]), v))
