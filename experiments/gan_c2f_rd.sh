#!/usr/bin/env bash
# gan-c2f (seed 001) against the classical codecs and the hyperprior at extreme low rates on the
# photos set (never used in training): RD curves on PSNR, MS-SSIM and three perceptual distances
# (ST-LPIPS, which gan-c2f trains on, first; LPIPS-Alex and DISTS, which nothing here trains on),
# BD-rates against JPEG2000, the perception-distortion figure and example crops (semlink figure).
#   bash experiments/gan_c2f_rd.sh            (from the repository root, about 10 minutes on 2 cores)
set -euo pipefail
SEMLINK=${SEMLINK:-.venv/bin/semlink}
GRID=bpp:0.02:0.03:0.05:0.075:0.1:0.15:0.2
"$SEMLINK" rd --dataset photos --perceptual st_lpips,lpips,dists --anchor jpeg2000 --out results/gan-c2f-rd --no-progress \
  --codecs "gan-c2f=all,heic=$GRID,webp=$GRID,jpeg2000=$GRID,jpeg=$GRID,hyperprior=all"
"$SEMLINK" figure gan-c2f-pd results/gan-c2f-rd
"$SEMLINK" figure gan-c2f-crops results/gan-c2f-rd -o item=chelsea -o quality=2
