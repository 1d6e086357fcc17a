"""Fine-tunes a cross-encoder reranker as FlagEmbedding trains rerankers: each training group is one query with one
positive and `train_group_size` - 1 negatives; the model's logits over the group go through a softmax and the loss is
the cross-entropy of the positive (FlagEmbedding's CrossEncoder: logits.view(batch, group), target 0). Models and
tokenizers are transformers' AutoModelForSequenceClassification / AutoTokenizer (one logit, num_labels 1); only APIs
that torch 1.13 / transformers 4.44 and torch 2.x / transformers 5.x both have.

Defaults are the seed's recipe (Dongjin-kr/ko-reranker): learning rate 5e-6, 3 epochs, per-device batch 1 x gradient
accumulation 32, train_group_size 3, max_len 512, weight decay 0.01, linear warm-up (10%) and decay; fp16 (bf16 where
supported) on CUDA, fp32 on CPU."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .bm25 import BM25
from .data import Corpus, DataError, NegativeMiner, Query, load
from .metrics import summarize

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model")


@dataclass
class Options:
    base: Path
    data: Path
    out: Path
    eval: Path | None = None
    corpus: list[Path] = field(default_factory=list)
    format: str | None = None
    query_column: str = "query"
    passage_column: str = "passage"
    eval_fraction: float = 0.1
    eval_max_queries: int = 1000
    learning_rate: float = 5e-6
    epochs: float = 3.0
    max_steps: int = 0
    batch_size: int = 1
    grad_accum: int = 32
    train_group_size: int = 3
    max_len: int = 512
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    hard_pool: int = 30
    seed: int = 42
    device: str = "auto"
    precision: str = "auto"
    save_steps: int = 0
    keep_checkpoints: int = 2
    checkpoint_dir: Path | None = None
    resume: bool = False
    eval_steps: int = 0
    eval_queries: int = 200
    top_k: int = 20
    contexts: int = 3
    eval_batch: int = 32
    probe_groups: int = 32
    threads: int = 0
    log_every: int = 1


class TrainError(Exception):
    pass


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Progress:
    """One line with a bar, step, loss, pairs/s and time left on a TTY; a plain line every `every` steps elsewhere."""

    def __init__(self, total: int, every: int) -> None:
        self.total, self.every = total, max(1, every)
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.pairs = 0
        self.steps = 0
        self.start_step = 0

    def begin(self) -> None:
        """Training starts: rates and time left count from here (not from the evaluation before it)."""
        self.t0 = time.monotonic()
        self.pairs = 0

    def update(self, step: int, loss: float | None, pairs: int, lr: float, final: bool = False) -> None:
        self.pairs += pairs
        elapsed = time.monotonic() - self.t0
        rate = self.pairs / elapsed if elapsed > 0 else 0.0
        self.steps = step
        per_step = elapsed / max(1, step - self.start_step)
        left = per_step * (self.total - step)
        loss_s = f"{loss:.4f}" if loss is not None else "-"
        line = (
            f"step {step}/{self.total} loss {loss_s} lr {lr:.2e} {rate:.1f} pairs/s "
            f"{per_step:.1f} s/step left {_duration(left)}"
        )
        if self.tty:
            width = 24
            filled = round(width * step / max(1, self.total))
            sys.stderr.write(f"\r\x1b[K[{'#' * filled}{'-' * (width - filled)}] {line}")
            if final:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif final or step % self.every == 0:
            _log(line)

    def note(self, msg: str) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[K")
        _log(msg)


def _duration(seconds: float) -> str:
    s = int(max(0, seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def pick_device(requested: str):
    import torch

    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise TrainError("--device cuda: torch.cuda.is_available() is False (a CPU build of PyTorch, or no GPU)")
        return torch.device("cuda")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_precision(requested: str, device) -> str:
    import torch

    if device.type != "cuda":
        if requested in ("fp16", "bf16"):
            raise TrainError(f"--precision {requested} needs CUDA; on CPU training runs in fp32")
        return "fp32"
    if requested != "auto":
        return requested
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def split_eval(opts: Options, corpus: Corpus, train: list[Query]) -> tuple[list[Query], list[Query], str]:
    """The held-out queries: --eval's, or a seeded slice of --data. Training queries whose text is an eval query are
    dropped either way (no query is trained and evaluated on)."""
    if opts.eval is not None:
        held = load(opts.eval, corpus, None, opts.query_column, opts.passage_column).queries
        texts = {q.query for q in held}
        kept = [q for q in train if q.query not in texts]
        dropped = len(train) - len(kept)
        note = f"; {dropped} training queries with an eval query's text left out of training" if dropped else ""
        return kept, held, f"{opts.eval}{note}"
    if opts.eval_fraction <= 0:
        return train, [], "none"
    rng = random.Random(opts.seed)
    order = list(range(len(train)))
    rng.shuffle(order)
    n = min(opts.eval_max_queries, max(1, round(len(train) * opts.eval_fraction)))
    if len(train) - n < 1:
        raise TrainError(f"{opts.data}: {len(train)} queries, too few to hold {n} out; give --eval FILE")
    held_idx = set(order[:n])
    held = [q for i, q in enumerate(train) if i in held_idx]
    kept = [q for i, q in enumerate(train) if i not in held_idx]
    return kept, held, f"{n} queries held out of {opts.data} (seed {opts.seed})"


class Scorer:
    """Logits of (query, passage) pairs with the model in eval mode, in batches."""

    def __init__(self, model, tokenizer, device, max_len: int, batch: int, precision: str) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.max_len, self.batch, self.precision = max_len, batch, precision

    def __call__(self, pairs: list[tuple[str, str]]) -> list[float]:
        import torch

        out = [0.0] * len(pairs)
        # Batches of similar length (less padding); results back in input order.
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            for i in range(0, len(order), self.batch):
                idx = order[i : i + self.batch]
                enc = encode(
                    self.tokenizer, [pairs[j][0] for j in idx], [pairs[j][1] for j in idx], self.max_len, self.device
                )
                with autocast(self.device, self.precision):
                    logits = self.model(**enc).logits
                for j, x in zip(idx, logits.float().view(-1).tolist()):
                    out[j] = x
        if was_training:
            self.model.train()
        return out


def encode(tokenizer, queries: list[str], passages: list[str], max_len: int, device):
    enc = tokenizer(queries, passages, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    return {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}


def autocast(device, precision: str):
    import contextlib

    import torch

    if device.type != "cuda" or precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


class HeldOut:
    """BM25 top-k candidates of the held-out queries over the whole corpus (the eval command's first stage), reranked
    by the model: the eval command's metrics."""

    def __init__(self, queries: list[Query], bm25: BM25, top_k: int, contexts: int) -> None:
        self.queries, self.top_k, self.contexts = queries, top_k, contexts
        self.candidates = [bm25.top(q.query, top_k) for q in queries]

    def evaluate(self, scorer: Scorer, passages: list[str], limit: int | None = None) -> dict:
        n = len(self.queries) if limit is None else min(limit, len(self.queries))
        pairs, spans = [], []
        for q, cands in zip(self.queries[:n], self.candidates[:n]):
            spans.append((len(pairs), len(cands)))
            pairs.extend((q.query, passages[d]) for d in cands)
        logits = scorer(pairs)
        rankings = []
        for (start, size), cands in zip(spans, self.candidates[:n]):
            part = logits[start : start + size]
            order = sorted(range(size), key=lambda i: (-part[i], i))
            rankings.append([cands[i] for i in order])
        relevants = [set(q.positives) for q in self.queries[:n]]
        return summarize(rankings, relevants, self.top_k, self.contexts)


def copy_tokenizer(base: Path, target: Path, tokenizer) -> None:
    """The base's tokenizer files verbatim (the served tokenizer stays the base's), else the tokenizer as saved."""
    copied = False
    for name in TOKENIZER_FILES:
        if (base / name).exists():
            shutil.copyfile(base / name, target / name)
            copied = copied or name == "tokenizer.json"
    if not copied:
        tokenizer.save_pretrained(str(target))


def _atomic_json(path: Path, value) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def train(opts: Options) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    t_start = time.monotonic()
    if opts.threads > 0:
        torch.set_num_threads(opts.threads)
    if opts.train_group_size < 2:
        raise TrainError("--train-group-size must be at least 2 (one positive and a negative)")
    from transformers import AutoConfig

    if opts.base.exists() and not (opts.base / "config.json").exists():
        raise TrainError(f"--base {opts.base}: no config.json (expected a Hugging Face model directory)")
    config = AutoConfig.from_pretrained(str(opts.base))
    if config.num_labels != 1:
        raise TrainError(f"--base {opts.base}: {config.num_labels} labels; a reranker has one logit (num_labels 1)")

    done_log = opts.out / "training" / "log.json"
    if opts.resume and done_log.exists() and (opts.out / "checkpoint" / "config.json").exists():
        summary = json.loads(done_log.read_text())
        if summary.get("complete"):
            _log(f"--resume: training in {opts.out} is complete ({summary['steps']} steps); nothing to train")
            return summary
    device = pick_device(opts.device)
    precision = pick_precision(opts.precision, device)
    out = opts.out
    work = out / "training"
    ckpt_root = opts.checkpoint_dir or (work / "checkpoints")
    work.mkdir(parents=True, exist_ok=True)
    ckpt_root.mkdir(parents=True, exist_ok=True)

    # Data: one corpus over the training file, the eval file and --corpus files (as `ko-rerank eval --corpus`).
    corpus = Corpus()
    for extra in opts.corpus:
        load(extra, corpus)
    loaded = load(opts.data, corpus, opts.format, opts.query_column, opts.passage_column)
    train_passages = len(corpus.passages)  # negatives come from these, never from the held-out file's passages
    if not loaded.queries:
        raise TrainError(f"{opts.data}: no query with a positive passage")
    train_q, held_q, held_desc = split_eval(opts, corpus, loaded.queries)
    if not train_q:
        raise TrainError("no training query left after holding out the eval queries")
    need = opts.train_group_size - 1
    t0 = time.monotonic()
    bm25 = BM25(corpus.passages)
    miner = NegativeMiner(corpus, train_q, need, opts.hard_pool, bm25, passages=train_passages)
    held = HeldOut(held_q, bm25, opts.top_k, opts.contexts) if held_q else None
    _log(
        f"data: {len(train_q)} training queries, {len(held_q)} held out ({held_desc}), "
        f"{len(corpus.passages)} passages; "
        f"BM25 negatives mined for {miner.mined} queries ({time.monotonic() - t0:.1f} s)"
    )
    with (work / "heldout.jsonl").open("w", encoding="utf-8") as f:
        for q in held_q:
            f.write(json.dumps(q.to_json(corpus), ensure_ascii=False) + "\n")

    # Schedule.
    per_step = opts.batch_size * opts.grad_accum
    groups_total = int(len(train_q) * opts.epochs)
    # --max-steps overrides --epochs (as transformers' TrainingArguments.max_steps does).
    steps = opts.max_steps if opts.max_steps > 0 else max(1, groups_total // per_step)
    warmup = int(math.ceil(steps * opts.warmup_ratio))
    eval_steps = opts.eval_steps
    save_steps = opts.save_steps or max(1, min(500, steps // 5))

    # Resume: the newest complete checkpoint holds the model, optimizer, scheduler and the step reached.
    start_step, log = 0, {"loss": [], "eval": []}
    source = opts.base
    if opts.resume:
        done = sorted(
            (p for p in ckpt_root.glob("step-*") if (p / "state.json").exists()),
            key=lambda p: int(p.name.split("-")[1]),
        )
        if done:
            source = done[-1]
            state = json.loads((source / "state.json").read_text())
            start_step, log = state["step"], state["log"]
            _log(f"resuming from {source} (step {start_step} of {steps})")
        else:
            _log(f"--resume: no checkpoint under {ckpt_root}; starting at step 0")

    tokenizer = AutoTokenizer.from_pretrained(str(opts.base))
    model = AutoModelForSequenceClassification.from_pretrained(str(source), num_labels=1).float().to(device)
    torch.manual_seed(opts.seed)

    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "LayerNorm.bias")
    params = [
        {
            "params": [p for n, p in model.named_parameters() if p.requires_grad and not n.endswith(no_decay)],
            "weight_decay": opts.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if p.requires_grad and n.endswith(no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(params, lr=opts.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, steps)
    scaler = None
    if precision == "fp16":
        # torch.amp.GradScaler("cuda") from torch 2.3; torch.cuda.amp.GradScaler before (deprecated after).
        scaler = torch.amp.GradScaler("cuda") if hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler()
    if start_step:
        optimizer.load_state_dict(torch.load(source / "optimizer.pt", map_location=device))
        scheduler.load_state_dict(torch.load(source / "scheduler.pt"))
        if scaler is not None and (source / "scaler.pt").exists():
            scaler.load_state_dict(torch.load(source / "scaler.pt"))
        # Dropout masks continue as in an uninterrupted run.
        rng = torch.load(source / "rng.pt")
        torch.set_rng_state(rng["cpu"])
        if device.type == "cuda" and rng.get("cuda") is not None:
            torch.cuda.set_rng_state(rng["cuda"])

    scorer = Scorer(model, tokenizer, device, opts.max_len, opts.eval_batch, precision)

    def run_eval(step: int) -> None:
        if held is None:
            return
        t = time.monotonic()
        m = held.evaluate(scorer, corpus.passages, opts.eval_queries)
        m.update(step=step, seconds=round(time.monotonic() - t, 2))
        log["eval"].append(m)
        progress.note(
            f"held-out @ step {step} ({m['queries']} queries, PyTorch): MRR@{opts.top_k} {m['mrr']:.4f} "
            f"hit@1 {m['hit_at_1']:.4f} nDCG@10 {m['ndcg_at_10']:.4f} ({m['seconds']:.0f} s)"
        )

    progress = Progress(steps, opts.log_every)
    progress.start_step = start_step
    _log(
        f"training {steps} steps on {device.type} ({precision}): {per_step} groups a step "
        f"(batch {opts.batch_size} x accumulation {opts.grad_accum}) of {opts.train_group_size} pairs, "
        f"lr {opts.learning_rate:g}, warm-up {warmup} steps, max_len {opts.max_len}"
    )

    def probe() -> float:
        """Mean group loss (eval mode: no dropout) over the first `probe_groups` training groups, before and after:
        the training loss on a fixed sample, free of the step-to-step noise of which groups a step drew."""
        sample = [group(g) for g in range(min(opts.probe_groups, len(train_q)))]
        pairs = [(q, p) for q, texts in sample for p in texts]
        logits = torch.tensor(scorer(pairs)).view(len(sample), opts.train_group_size)
        return float(torch.nn.functional.cross_entropy(logits, torch.zeros(len(sample), dtype=torch.long)))

    # Groups in a fixed order per epoch (seeded), so a resumed run sees exactly the groups it had not.
    orders: dict[int, list[int]] = {}

    def group(g: int) -> tuple[str, list[str]]:
        epoch, k = divmod(g, len(train_q))
        if epoch not in orders:
            orders.clear()
            orders[epoch] = list(range(len(train_q)))
            random.Random(opts.seed * 1_000_003 + epoch).shuffle(orders[epoch])
        q = train_q[orders[epoch][k]]
        rng = random.Random(f"{opts.seed}:{g}")
        pos = rng.choice(q.positives)
        negs = miner.negatives(q, need, rng)
        return q.query, [corpus.passages[i] for i in [pos, *negs]]

    if start_step == 0:
        run_eval(0)
        if opts.probe_groups > 0:
            log["probe_before"] = probe()

    model.train()
    train_started = time.monotonic()
    progress.begin()
    for step in range(start_step + 1, steps + 1):
        t_step = time.monotonic()
        total_loss, pairs = 0.0, 0
        for micro in range(opts.grad_accum):
            base_g = ((step - 1) * opts.grad_accum + micro) * opts.batch_size
            queries, passages = [], []
            for b in range(opts.batch_size):
                query, texts = group(base_g + b)
                queries.extend([query] * len(texts))
                passages.extend(texts)
            enc = encode(tokenizer, queries, passages, opts.max_len, device)
            with autocast(device, precision):
                logits = model(**enc).logits
            scores = logits.float().view(opts.batch_size, opts.train_group_size)
            target = torch.zeros(opts.batch_size, dtype=torch.long, device=device)
            loss = torch.nn.functional.cross_entropy(scores, target) / opts.grad_accum
            if scaler is not None:
                scaler.scale(loss).backward()
            else:
                loss.backward()
            total_loss += float(loss.detach())
            pairs += len(passages)
        if scaler is not None:
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), opts.max_grad_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        lr = scheduler.get_last_lr()[0]
        log["loss"].append(
            {"step": step, "loss": total_loss, "lr": lr, "seconds": round(time.monotonic() - t_step, 3), "pairs": pairs}
        )
        progress.update(step, total_loss, pairs, lr, final=step == steps)
        if eval_steps > 0 and step % eval_steps == 0 and step != steps:
            run_eval(step)
        if step % save_steps == 0 and step != steps:
            save_checkpoint(ckpt_root / f"step-{step}", model, optimizer, scheduler, scaler, step, log, opts)
            prune(ckpt_root, opts.keep_checkpoints)
    train_seconds = time.monotonic() - train_started
    run_eval(steps)
    if opts.probe_groups > 0 and "probe_before" in log:
        log["probe_after"] = probe()
        progress.note(
            f"loss on the first {min(opts.probe_groups, len(train_q))} training groups: "
            f"{log['probe_before']:.4f} before, {log['probe_after']:.4f} after"
        )

    target_dir = out / "checkpoint"
    target_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(target_dir))
    copy_tokenizer(opts.base, target_dir, tokenizer)
    step_seconds = [e["seconds"] for e in log["loss"]]
    step_pairs = [e["pairs"] for e in log["loss"]]
    summary = {
        "base": str(opts.base),
        "data": str(opts.data),
        "eval": held_desc,
        "device": device.type,
        "device_name": torch.cuda.get_device_name(0)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads",
        "precision": precision,
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
        "train_queries": len(train_q),
        "heldout_queries": len(held_q),
        "passages": len(corpus.passages),
        "mined_queries": miner.mined,
        "steps": steps,
        "resumed_from_step": start_step,
        "warmup_steps": warmup,
        "groups_per_step": per_step,
        "epochs_done": round(steps * per_step / len(train_q), 4),
        "train_seconds": round(train_seconds, 1),
        "seconds_per_step": round(sum(step_seconds) / len(step_seconds), 3) if step_seconds else None,
        "pairs_per_second": round(sum(step_pairs) / sum(step_seconds), 2)
        if step_seconds and sum(step_seconds)
        else None,
        "total_seconds": round(time.monotonic() - t_start, 1),
        "complete": True,
        "probe": {
            "groups": min(opts.probe_groups, len(train_q)),
            "loss_before": log.get("probe_before"),
            "loss_after": log.get("probe_after"),
        },
        "recipe": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items() if k not in ("corpus",)},
        "log": log,
    }
    summary["recipe"]["corpus"] = [str(p) for p in opts.corpus]
    _atomic_json(work / "log.json", summary)
    _log(f"wrote {target_dir} and {work / 'log.json'} ({steps} steps, {train_seconds:.0f} s training)")
    return summary


def save_checkpoint(path: Path, model, optimizer, scheduler, scaler, step: int, log: dict, opts: Options) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    if scaler is not None:
        torch.save(scaler.state_dict(), tmp / "scaler.pt")
    torch.save(
        {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None},
        tmp / "rng.pt",
    )
    # state.json last: a checkpoint without it is incomplete and never resumed from.
    _atomic_json(tmp / "state.json", {"step": step, "log": log})
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


def prune(root: Path, keep: int) -> None:
    done = sorted((p for p in root.glob("step-*") if (p / "state.json").exists()), key=lambda p: int(p.name[5:]))
    for p in done[: max(0, len(done) - keep)]:
        shutil.rmtree(p, ignore_errors=True)


__all__ = ["DataError", "Options", "TrainError", "train"]
