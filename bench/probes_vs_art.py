"""mlsec probes vs ART's implementation of the same attack: same samples, epsilon and iterations, one run.

    pip install adversarial-robustness-toolbox packaging torch==2.13.0
    python bench/probes_vs_art.py [--pixel-images 5] [--repeats 5]

Prints, per probe, the wall time of each side, the time ratio (ART / mlsec) and the difference in the
result (robust accuracy, AUC, agreement...). Data: sklearn digits scaled to [0, 1], split 50/50, attacks on
the first 200 test images. Both sides run with one BLAS / torch thread (the machine has 2 shared cores).
Not part of the test suite.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
import warnings

import numpy as np


def timed(fn, repeats: int):
    """(median seconds, last result) over `repeats` calls."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


ROWS: list[tuple] = []


def row(probe: str, model: str, t_art: float, t_ours: float, what: str, art_val: float, ours_val: float, note: str = "") -> None:
    ROWS.append((probe, model, t_art, t_ours, what, art_val, ours_val, note))
    ratio = t_art / t_ours if t_ours > 0 else float("inf")
    print(
        f"{probe:<26} {model:<8} ART {t_art * 1000:9.2f} ms  mlsec {t_ours * 1000:9.2f} ms  ratio {ratio:6.2f}x  "
        f"{what}: ART {art_val:.4f} mlsec {ours_val:.4f} (diff {ours_val - art_val:+.4f}) {note}",
        flush=True,
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pixel-images", type=int, default=5, help="images for ART's PixelAttack (about 5-7 s each)")
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()

    warnings.filterwarnings("ignore")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    with contextlib.redirect_stderr(io.StringIO()):
        import art  # noqa: F401  (imports torch and friends eagerly)
    from art.attacks.evasion import FastGradientMethod, HopSkipJump, PixelAttack, ProjectedGradientDescent
    from art.attacks.extraction import CopycatCNN
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox
    from art.defences.preprocessor import FeatureSqueezing
    from art.defences.trainer import AdversarialTrainer
    from art.estimators.classification import PyTorchClassifier, SklearnClassifier
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    import mlsec
    from mlsec.probes import as_target, defences, evasion, exploratory

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, torch {torch.__version__}, ART {art.__version__}")
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Xtr, ytr, Xte, yte = X[::2], y[::2], X[1::2], y[1::2]
    x0, y0 = Xte[: args.n], yte[: args.n]

    def train(net, epochs=100, shape=(-1, 64)):
        torch.manual_seed(0)
        opt = torch.optim.Adam(net.parameters(), 1e-2)
        xt, yt = torch.tensor(Xtr).reshape(shape), torch.tensor(ytr)
        for _ in range(epochs):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt), yt).backward()
            opt.step()
        return net.eval()

    torch.manual_seed(0)
    mlp = train(torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)))
    torch.manual_seed(0)
    cnn = train(
        torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 64, 10)),
        epochs=60,
        shape=(-1, 1, 8, 8),
    )
    lr = LogisticRegression(max_iter=2000).fit(Xtr, ytr)

    def art_torch(net, shape):
        return PyTorchClassifier(net, loss=torch.nn.CrossEntropyLoss(), input_shape=shape, nb_classes=10, clip_values=(0.0, 1.0))

    models = {
        "MLP": (mlp, art_torch(mlp, (64,)), x0, Xte),
        "CNN": (cnn, art_torch(cnn, (1, 8, 8)), x0.reshape(-1, 1, 8, 8), Xte.reshape(-1, 1, 8, 8)),
        "LogReg": (lr, SklearnClassifier(lr, clip_values=(0.0, 1.0)), x0, Xte),
    }
    eps, steps = 0.1, 20
    alpha = 2.5 * eps / steps
    print(f"\n== white-box: {args.n} images, eps={eps} (L-inf), PGD-{steps} step {alpha}, no random start ==")
    for name, (m, est, xs, _) in models.items():
        t = as_target(m, xs, y0)
        ad, cons = t.adapter, t.constraints
        fgsm_art = FastGradientMethod(est, norm=np.inf, eps=eps, batch_size=args.n)
        ta, xa = timed(lambda: fgsm_art.generate(xs, y=y0), args.repeats)
        to, res = timed(lambda: evasion.fgsm_arrays(ad, xs, y0, cons, eps), args.repeats)
        acc_a = float(np.mean(est.predict(xa).argmax(1) == y0))
        row("FGSM", name, ta, to, "robust acc", acc_a, float(np.mean(res.labels_adv == y0)), f"max |x diff| {np.abs(xa - res.x_adv).max():.1e}")
        pgd_art = ProjectedGradientDescent(est, norm=np.inf, eps=eps, eps_step=alpha, max_iter=steps, num_random_init=0, batch_size=args.n, verbose=False)
        ta, xa = timed(lambda: pgd_art.generate(xs, y=y0), args.repeats)
        to, res = timed(lambda: evasion.pgd_arrays(ad, xs, y0, cons, eps, "inf", steps, alpha, False, False), args.repeats)
        acc_a = float(np.mean(est.predict(xa).argmax(1) == y0))
        row(f"PGD-{steps}", name, ta, to, "robust acc", acc_a, float(np.mean(res.labels_adv == y0)), f"max |x diff| {np.abs(xa - res.x_adv).max():.1e}")

    print("\n== decision-based: HopSkipJump, LogReg, L-inf, 10 iterations, init 100 / max 1000 evaluations ==")
    est_lr = models["LogReg"][1]
    correct = lr.predict(x0) == y0
    hsj_art = HopSkipJump(est_lr, norm=np.inf, max_iter=10, max_eval=1000, init_eval=100, batch_size=1000, verbose=False)
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        xa = hsj_art.generate(x0[correct])
    ta = time.perf_counter() - t0
    d_art = np.abs(xa - x0[correct]).max(axis=1)
    d_art[lr.predict(xa) == y0[correct]] = np.inf
    t = as_target(lr, x0, y0)
    t0 = time.perf_counter()
    hs = evasion.hsj_arrays(t.adapter, x0[correct], y0[correct], t.constraints, "inf", 10, 100, 1000, np.random.default_rng(0), None, pool=(Xte, None))
    to = time.perf_counter() - t0
    ra = float(np.mean(d_art > eps) * correct.mean())
    ro = float(np.mean(hs.distance > eps) * correct.mean())
    row("HopSkipJump (upper bnd)", "LogReg", ta, to, f"robust acc@{eps}", ra, ro, f"median dist ART {np.median(d_art):.3f} mlsec {np.median(hs.distance):.3f}")

    k = args.pixel_images
    print(f"\n== one-pixel: CNN, first {k} images; ART PixelAttack (differential evolution) vs exhaustive search ==")
    est_cnn = models["CNN"][1]
    xs = x0[:k].reshape(-1, 1, 8, 8)
    pix = PixelAttack(est_cnn, th=1, es=1, max_iter=100, targeted=False, verbose=False)
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        xa = pix.generate(xs, y=np.eye(10)[y0[:k]])
    ta = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = evasion.few_pixel(cnn, xs, y0[:k], k=1)
    to = time.perf_counter() - t0
    acc_a = float(np.mean(est_cnn.predict(xa).argmax(1) == y0[:k]))
    row("one-pixel", "CNN", ta, to, "robust acc", acc_a, r.robust_accuracy)

    print("\n== membership inference: overfit random forest, 500 members + 500 non-members ==")
    rf = RandomForestClassifier(n_estimators=50, random_state=0).fit(Xtr, ytr)
    est_rf = SklearnClassifier(rf)
    n = 500
    mi = MembershipInferenceBlackBox(est_rf, attack_model_type="rf")
    t0 = time.perf_counter()
    half = n // 2
    mi.fit(Xtr[:half], ytr[:half], Xte[:half], yte[:half])  # ART needs an attack-training split
    p_in = mi.infer(Xtr[half:n], ytr[half:n], probabilities=True)[:, -1]
    p_out = mi.infer(Xte[half:n], yte[half:n], probabilities=True)[:, -1]
    ta = time.perf_counter() - t0
    auc_a = exploratory.auc_score(p_in, p_out)
    t0 = time.perf_counter()
    r = exploratory.membership_inference(rf, Xte[:n], yte[:n], X_train=Xtr[:n], y_train=ytr[:n])
    to = time.perf_counter() - t0
    row("membership (rf / loss)", "RF", ta, to, "AUC", auc_a, r.auc, "ART: black-box attack model; mlsec: loss threshold")

    print("\n== extraction: 600 label queries, agreement with the MLP on 898 held-out images ==")
    torch.manual_seed(1)
    thief_net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    thief = PyTorchClassifier(thief_net, loss=torch.nn.CrossEntropyLoss(), input_shape=(64,), nb_classes=10, clip_values=(0.0, 1.0),
                              optimizer=torch.optim.Adam(thief_net.parameters(), 1e-2))
    cc = CopycatCNN(models["MLP"][1], batch_size_fit=64, batch_size_query=600, nb_epochs=20, nb_stolen=600, use_probability=False)
    t0 = time.perf_counter()
    stolen = cc.extract(Xtr[:600], thieved_classifier=thief)
    ta = time.perf_counter() - t0
    victim = models["MLP"][1].predict(Xte).argmax(1)
    agr_a = float(np.mean(stolen.predict(Xte).argmax(1) == victim))
    t0 = time.perf_counter()
    r = exploratory.extraction(mlp, Xte, yte, X_train=Xtr, y_train=ytr, n_queries=600)
    to = time.perf_counter() - t0
    row("extraction (600 queries)", "MLP", ta, to, "agreement", agr_a, r.agreement, f"mlsec surrogate: {r.surrogate}")

    print("\n== feature squeezing (2-bit depth) against PGD-20 examples, threshold at 5 % FPR ==")
    t = as_target(mlp, x0, y0)
    adv = evasion.pgd_arrays(t.adapter, x0, y0, t.constraints, eps, "inf", steps, alpha, False, False)
    succ = adv.labels_adv != y0
    fs = FeatureSqueezing(clip_values=(0.0, 1.0), bit_depth=2)
    est = models["MLP"][1]

    def det(squeeze, predict):
        s_c = np.abs(predict(x0) - predict(squeeze(x0))).sum(1)
        s_a = np.abs(predict(adv.x_adv[succ]) - predict(squeeze(adv.x_adv[succ]))).sum(1)
        return float(np.mean(s_a > np.quantile(s_c, 0.95)))

    softmax = lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)  # noqa: E731
    ta, da = timed(lambda: det(lambda x: fs(x)[0].astype(np.float32), lambda x: softmax(est.predict(x))), args.repeats)
    to, do = timed(lambda: det(lambda x: defences.squeeze_bits(x, t.constraints.lower, t.constraints.scale, 2), t.adapter.predict_proba), args.repeats)
    row("feature squeezing", "MLP", ta, to, "detection", da, do)

    print("\n== adversarial training: FGSM eps 0.1, 10 epochs on a copy, PGD-10 robust accuracy on 200 test images ==")
    import copy

    def pgd10(net):
        tt = as_target(net, x0, y0)
        return float(np.mean(evasion.pgd_arrays(tt.adapter, x0, y0, tt.constraints, eps, "inf", 10).labels_adv == y0))

    base = pgd10(mlp)
    twin = copy.deepcopy(mlp)
    est_twin = PyTorchClassifier(twin, loss=torch.nn.CrossEntropyLoss(), input_shape=(64,), nb_classes=10, clip_values=(0.0, 1.0),
                                 optimizer=torch.optim.Adam(twin.parameters(), 1e-3))
    trainer = AdversarialTrainer(est_twin, FastGradientMethod(est_twin, eps=eps), ratio=0.5)
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        trainer.fit(Xtr, ytr, nb_epochs=10, batch_size=64)
    ta = time.perf_counter() - t0
    gain_a = pgd10(twin.eval()) - base
    t0 = time.perf_counter()
    r = defences.adversarial_finetune(mlp, x0, y0, X_train=Xtr, y_train=ytr, eps=eps, epochs=10)
    to = time.perf_counter() - t0
    row("adversarial fine-tune", "MLP", ta, to, "robust-acc gain", gain_a, r.robust_accuracy_gain, "mlsec time includes its two PGD-10 evaluations")

    print("\n== default quick report (mlsec.probe with training data) ==")
    for name, m in (("MLP", mlp), ("LogReg", lr)):
        t0 = time.perf_counter()
        rep = mlsec.probe(m, Xte, yte, X_train=Xtr, y_train=ytr)
        print(f"quick report {name:<7} {time.perf_counter() - t0:6.2f} s, {rep.queries:,} queries, "
              + ", ".join(f"{r.name}={r.status}" for r in rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
