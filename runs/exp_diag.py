import sys, numpy as np
from MIDeepSegLib.benchmark import folder_cases
from MIDeepSegLib.segmenter import Segmenter, _load_model
from MIDeepSegLib.simulate import interior_margin_points
from MIDeepSegLib.metrics import dice
folder, dim = sys.argv[1], int(sys.argv[2])
model = _load_model("%dd" % dim, "cpu"); print(model[1])
for k, case in enumerate(folder_cases(folder, dim, axes=(0,))):
    rng = np.random.default_rng([0, dim, k])
    pts = interior_margin_points(case.truth, rng, case.spacing)
    seg = Segmenter(case.image, case.spacing, model=model, device="cpu")
    r = seg.initial(pts); m = r.mask.astype(bool); t = case.truth
    P = r.probability_crop
    tb = t[r.box]
    print("%-32s shape=%s box=%s dice=%.3f prec=%.3f rec=%.3f truth_in_box=%.3f Pmid=%.3f npts=%d" % (case.name, case.image.shape, tuple(s.stop-s.start for s in r.box), dice(m,t), (m&t).sum()/max(m.sum(),1), (m&t).sum()/t.sum(), tb.sum()/t.sum(), ((P>0.2)&(P<0.8)).mean(), len(pts)))
