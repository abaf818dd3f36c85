# args: dim, then configs "pr,r,s,br"
dim=$1; shift
for c in "$@"; do IFS=, read pr r s br <<< "$c"
  echo "== point_reach=$pr reach=$r scale=$s bg=$br"; PYTHONPATH=$PWD timeout 900 /work/main/.venv/bin/python scripts/organ_eval.py data/organs/tune --dim $dim --clicks 5 --no-geos --set point_reach=$pr --set reach=$r --set distance_scale=$s --set background_reach=$br --out runs/t${dim}_${pr}_${r}_${s}_${br}.json | tail -1
done
