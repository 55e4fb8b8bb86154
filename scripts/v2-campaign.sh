#!/usr/bin/env bash
# The v2 training campaign on a small CPU machine, as this project runs it in the background:
#   nohup setsid nice bash scripts/v2-campaign.sh >> ~/.cache/semlink/runs/queue.out 2>&1 &
# One training at a time, round robin: each pass gives every unfinished run (whose prerequisite
# run is finished) one CHUNK-minute `semlink train ... --resume` turn, until its train_state.pt
# reaches its recipe's steps. A restarted campaign goes on with the run after the last one started
# ($R/queue.next). Stop: touch $R/STOP-queue (the run in progress finishes its turn).
# The runs live in ~/.cache/semlink/runs (the recipes name those folders, and each other's: a
# prerequisite's output is the next run's init). Environment: CHUNK (minutes per turn, default 45).
# The user cache does not outlive a change of machine (a session of 2026-12-07 lost a 3.6-hour MSVQ
# run that way): before a session ends, ship what a run reached (`semlink zoo add RUN --name NAME`);
# the MSVQ job starts a lost run from the zoo's file (--init applies to a fresh run folder only, and
# the entry records the step it was shipped at), the interpolator's recipe already does.
# Needs the training corpora (semlink data pack / video-pack, see the recipes' headers) and .venv
# (bash scripts/setup-env.sh).
set -u
cd "$(dirname "$0")/.."
R=$HOME/.cache/semlink/runs
CHUNK=${CHUNK:-45}  # minutes per turn
mkdir -p "$R"
# model recipe out-dir log prerequisite-dir(or -) extra-args
JOBS=(
  "vqdeepvsc-msvq semlink/semantic/vqdeepvsc/recipes/msvq-v2-cpu.toml $R/msvq-v2 $R/msvq-v2.log - --init semlink/zoo/vqdeepvsc-msvq.pt"
  "seb-flow semlink/semantic/seb/recipes/flow-cpu.toml $R/seb-flow $R/seb-flow.log -"
  "vqdeepvsc-ifnet semlink/semantic/vqdeepvsc/recipes/ifnet-v2-cpu.toml $R/ifnet-v2 $R/ifnet-v2.log -"
  "seb semlink/semantic/seb/recipes/seb-v2-cpu.toml $R/seb-v2/sum $R/seb-v2-sum.log $R/seb-flow"
  "seb semlink/semantic/seb/recipes/seb-v2-cpu.toml $R/seb-v2/mean $R/seb-v2-mean.log $R/seb-flow --set reg=mean --out $R/seb-v2/mean"
  "gan-c2f-base semlink/semantic/gan_c2f/recipes/base-rd-v2.toml $R/gan-c2f-v2/base-rd $R/gan-c2f-v2-rd.log -"
  "gan-c2f-base semlink/semantic/gan_c2f/recipes/base-gan-v2.toml $R/gan-c2f-v2/base-gan $R/gan-c2f-v2-gan.log $R/gan-c2f-v2/base-rd"
  "gan-c2f-enh semlink/semantic/gan_c2f/recipes/enh-v2-conditional.toml $R/gan-c2f-v2/enh-0.0003 $R/gan-c2f-v2-enh.log $R/gan-c2f-v2/base-gan --lambda 0.0003"
  "gan-c2f-enh semlink/semantic/gan_c2f/recipes/enh-v2-conditional.toml $R/gan-c2f-v2/enh-0.0001 $R/gan-c2f-v2-enh.log $R/gan-c2f-v2/base-gan --lambda 0.0001 --out $R/gan-c2f-v2/enh-0.0001"
  "gan-c2f-enh semlink/semantic/gan_c2f/recipes/enh-v2-conditional.toml $R/gan-c2f-v2/enh-0.001 $R/gan-c2f-v2-enh.log $R/gan-c2f-v2/base-gan --lambda 0.001 --out $R/gan-c2f-v2/enh-0.001"
)
done_steps() {  # step of the run's train_state.pt (0 if none)
  .venv/bin/python - "$1" <<'PY'
import sys, pathlib, torch
p = pathlib.Path(sys.argv[1]) / "train_state.pt"
print(torch.load(p, map_location="cpu", weights_only=False)["step"] if p.exists() else 0)
PY
}
want_steps() { grep -E "^steps *=" "$1" | head -1 | sed 's/[^0-9]//g'; }
finished() {  # finished OUT RECIPE
  [ "$(done_steps "$1")" -ge "$(want_steps "$2")" ]
}
recipe_of() {  # the recipe of the job whose out-dir is $1
  for j in "${JOBS[@]}"; do read -r _ r o _ <<< "$j"; [ "$o" = "$1" ] && echo "$r"; done
}
# the turn goes on where the last queue left it (a restarted queue does not start over at job 0)
next=$(cat $R/queue.next 2>/dev/null || echo 0)
while [ ! -f $R/STOP-queue ]; do
  ran=0
  for i in "${!JOBS[@]}"; do
    job=${JOBS[$i]}
    [ "$i" -lt "$next" ] && continue
    read -r model recipe out log prereq extra <<< "$job"
    [ -f $R/STOP-queue ] && break
    finished "$out" "$recipe" && continue
    if [ "$prereq" != "-" ]; then finished "$prereq" "$(recipe_of "$prereq")" || continue; fi
    while pgrep -f "bin/semlink train" > /dev/null; do sleep 30; done  # one training at a time
    [ -f $R/STOP-queue ] && break
    rm -f "$out/RUNNING"
    echo "$(date -u +%FT%TZ) start $model $out" >> $R/queue.out
    echo $(( (i + 1) % ${#JOBS[@]} )) > $R/queue.next
    nice -n 10 .venv/bin/semlink train "$model" --recipe "$recipe" --max-minutes $CHUNK --resume --no-progress $extra >> "$log" 2>&1 \
      || { echo "run failed $(date)" >> "$log"; sleep 60; }
    ran=1
  done
  if [ "$next" -gt 0 ]; then next=0; continue; fi  # the first pass started mid-list: go round once more
  [ $ran = 0 ] && break
done
