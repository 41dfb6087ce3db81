# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 05 — The estimators compared: bias, variance, direction
#
# `ils-ref compare` measures every estimator setting on a problem whose exact gradient is
# known by enumeration: the Monte-Carlo mean and its standard error, the bias norm
# $\|\bar g - \nabla\|$, the cosine between $\bar g$ and $\nabla$, the variance
# $\mathbb{E}\|g - \mathbb{E}g\|^2$ of one estimate, and the verdict of the statistical
# check (`ils_ref.checking.statcheck`). This tutorial draws those tables for the three problems and
# reads them. For ILS it also uses the *exact* expectation of the estimator
# (`ils_expected_gradient`, enumerating the draws), so its bias is known without noise.

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
import numpy as np  # noqa: E402

from ils_ref.checking.statcheck import cosine, verdict  # noqa: E402
from ils_ref.estimators.interface import ils_expected_gradient  # noqa: E402
from ils_ref.experiments.compare import compare, format_table  # noqa: E402
from ils_ref.models.problems import exact_gradient, make_problem  # noqa: E402
from ils_ref.tutorial import Claims, show_figure, show_source, sizes  # noqa: E402

PROBLEMS = ("toy1", "bernoulli-quadratic", "linear")
FAMILY_COLORS = {"ils": "tab:blue", "ils-prototype": "tab:cyan", "bernoulli-ils": "tab:purple", "gumbel": "tab:orange",
                 "straight-through": "tab:red", "reinforce": "tab:green", "reinforce-loo": "tab:olive"}


#: Marker by the setting's place in its family (the post's three α or T values, then the rest).
MARKERS = ("o", "s", "^", "D")


def setting_rank(row):
    value = row["params"].get("alpha", row["params"].get("temperature"))
    return {0.1: 0, 0.01: 1, 1.0: 1, 0.001: 2, 10.0: 2}.get(value, 3)


def short(label):
    """Compact labels for the figure: 'ILS a=0.1', 'proto a=0.1', 'Gumbel T=1', ..."""
    for long_name, brief in (("ils-prototype(alpha=", "proto a="), ("bernoulli-ils(alpha=", "Bern-ILS a="),
                             ("ils(alpha=", "ILS a="),
                             ("gumbel(temperature=", "Gumbel T="), ("straight-through(temperature=", "ST T="),
                             ("reinforce-loo(group=", "RF-LOO m="), ("reinforce", "REINFORCE")):
        if label.startswith(long_name):
            label = brief + label[len(long_name):]
            break
    return label.replace(", prototype=True, policy=signed", "").rstrip(")")


claims = Claims()

# %%
size = sizes(samples=(20_000, 100_000))  # estimates per setting and problem

# %%
samples = size.samples
results = {}
for name in PROBLEMS:
    problem = make_problem(name)
    rows = compare(problem, n_samples=samples, seed=0)
    print(format_table(problem, rows, samples, 0))
    print()
    results[name] = (problem, rows)


# %% [markdown]
# ## Figures: bias against variance, and direction
#
# Top row: each setting as a point (variance of one estimate, bias norm of the mean), both
# on log scales. An unbiased estimator's bias norm is Monte-Carlo noise, $\approx
# \sqrt{\text{variance}/n}$, drawn as the grey line; points far above it are biased.
# Bottom row: the cosine between the mean estimate and the exact gradient. A pale, hatched
# bar marked `?` is a cosine the table marks `?` (`compare` sets `cosine_meaningful` to
# false): the mean is within 3 standard errors of zero, so its direction, and the bar's
# length and sign, are noise.

# %%
fig, axes = plt.subplots(2, 3, figsize=(17, 10), constrained_layout=True, height_ratios=[1.2, 1])
handles = {}
for col, name in enumerate(PROBLEMS):
    problem, rows = results[name]
    ax = axes[0, col]
    ok = [r for r in rows if "error" not in r]
    var = np.array([r["variance"] for r in ok])
    for r in ok:  # one marker per setting, named in the shared legend: no label can overprint another
        handles[short(r["label"])] = ax.scatter(
            r["variance"], max(r["bias_norm"], 1e-12), color=FAMILY_COLORS[r["estimator"]], s=46,
            marker=MARKERS[setting_rank(r)], edgecolor="black", linewidth=0.4, zorder=3)
    grid = np.geomspace(var.min() / 2, var.max() * 2, 50)
    noise = ax.plot(grid, np.sqrt(grid / samples), color="grey", lw=1)[0]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("variance of one estimate")
    ax.set_ylabel("bias norm |mean - exact|")
    ax.set_title(f"{name}: bias vs variance ({samples} estimates each)", fontsize=10)
    ax.grid(True, which="major", alpha=0.25)
    ax = axes[1, col]
    labels = [short(r["label"]) for r in ok]
    cos = np.array([r["cosine"] for r in ok])
    bars = ax.barh(range(len(ok)), cos, color=[FAMILY_COLORS[r["estimator"]] for r in ok])
    for y, (bar, r) in enumerate(zip(bars, ok)):
        if not r["cosine_meaningful"]:  # compare's decision, the table's '?': the mean's direction is noise
            bar.set_alpha(0.35)
            bar.set_hatch("//")
            ax.text(r["cosine"] + np.copysign(0.03, r["cosine"]), y, "?", ha="left" if r["cosine"] >= 0 else "right",
                    va="center", fontsize=11, fontweight="bold")
    ax.set_yticks(range(len(ok)), labels, fontsize=7)
    ax.set_xlim(min(0.0, cos.min()) - 0.12, 1.12)  # the axis fits the bars and their '?': negative only where a bar is
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("cosine(mean estimate, exact gradient)")
    ax.invert_yaxis()
    ax.grid(True, axis="x", alpha=0.25)
handles["noise level sqrt(variance / n)"] = noise
noise_mark = ("? (pale bar): cosine is noise, the mean\nis within 3 standard errors of 0\n"
              "(marked ? by ils-ref compare too)")
handles[noise_mark] = Line2D([], [], ls="none", marker="$?$", color="black", markersize=9)
fig.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize=8, title="setting")
show_figure(fig, "05_estimators_compared.png")

# %%
marked = {name: sum(t.get_text() == "?" for t in axes[1, col].texts) for col, name in enumerate(PROBLEMS)}
table = {name: sum(not r.get("cosine_meaningful", True) for r in results[name][1]) for name in PROBLEMS}
claims.check(f"the figure marks with ? exactly the cosines the table marks ? (per problem {marked})",
             marked == table and sum(table.values()) > 0)


# %% [markdown]
# ## Reading the tables
#
# * **REINFORCE** (unbiased by construction) is "consistent with unbiased" where the gradient
#   is large enough to test (the Bernoulli quadratic and the linear losses); on toy 1 its
#   variance is large (the $\log 10^{-8}$ of the loss enters every estimate), so the check
#   needs many samples there. "Consistent" is not "unbiased": the verdict means a bias of a
#   quarter of the largest gradient component would have been flagged with at least 90%
#   probability, so a small bias can pass: Gumbel $T$ = 0.1, biased by construction (a
#   relaxation at $T > 0$), passes on the linear losses too. The leave-one-out baseline spends 4 draws per estimate;
#   per estimate it cuts the variance by two orders of magnitude on toy 1 and the Bernoulli
#   quadratic, and at *equal cost* (variance times draws, the table's column) by a factor 4
#   less: printed below, where on the linear losses the per-draw gain all but vanishes.
# * **Gumbel-softmax** trades bias for variance along $T$: at $T$ = 10 it has the smallest
#   variance of all settings and a large bias; at $T$ = 0.1 the bias shrinks and the
#   variance grows. Straight-through is biased too.
# * **ILS** is biased on every problem, and its bias is not noise: the exact expectation
#   of the estimator points away from the exact gradient on toy 1 and on the linear losses.
#   On the two-category Bernoulli quadratic every logit gradient is $\pm(1, -1)$ up to
#   scale, so a cosine is $\pm 1$; at the problem's logits ($p = 1/2$) the expectation is about
#   $4\alpha$ times the exact gradient — at that point only: elsewhere it is $2\alpha(p - t)$,
#   of the opposite sign below $p = t$ (tutorial 08). One estimate has a spread of order 1, so
#   the signal-to-noise ratio is tiny, and with 20,000 estimates the Monte-Carlo cosine of a
#   small-$\alpha$ row can come out at $-1$: the table marks such cosines with `?` (the mean
#   is within 3 standard errors of zero, so its direction is noise).
# * The **prototype** variant is not a logit gradient at all (its rows do not sum to zero),
#   and its cosine to the exact gradient is near zero on the Bernoulli quadratic.
#
# The verdict column is decided in one function of the statistical check: "biased" when some
# component's $z$-score passes the Bonferroni threshold, "consistent with unbiased" only when
# the draws were also enough to detect a bias of `resolution` times the largest exact
# component, else "inconclusive".

# %%
show_source(verdict)

# %%
print("ILS, exact expectation over the draws (no sampling):")
cos = {}
for name in PROBLEMS:
    problem = make_problem(name)
    exact = exact_gradient(problem)
    for alpha in (0.1, 0.01, 0.001):
        mean = ils_expected_gradient(problem, alpha)
        cos[name, alpha] = cosine(mean, exact)
        ratio = np.linalg.norm(mean) / np.linalg.norm(exact)
        print(f"  {name:<20} alpha={alpha:<6g} cosine to exact {cos[name, alpha]:+.4f}   |E ils| / |exact| = {ratio:.4f}")
problem = make_problem("bernoulli-quadratic")
exact = exact_gradient(problem)
small = ils_expected_gradient(problem, 0.001)


def row(problem, label):
    return next(r for r in results[problem][1] if r["label"] == label)


# %%
claims.check("on toy 1 and the linear losses the exact ILS expectation is not parallel to the exact gradient "
             f"(cosines between {min(v for (n, a), v in cos.items() if n != 'bernoulli-quadratic'):.3f} and "
             f"{max(v for (n, a), v in cos.items() if n != 'bernoulli-quadratic'):.3f})",
             all(v < 0.99 for (n, a), v in cos.items() if n != "bernoulli-quadratic"))
claims.check(f"on the Bernoulli quadratic at p = 1/2, E[ILS] at alpha = 0.001 is "
             f"{np.linalg.norm(small) / np.linalg.norm(exact) / 0.001:.2f} * alpha times the exact gradient, pointing the right way",
             cos["bernoulli-quadratic", 0.001] > 0.999 and abs(np.linalg.norm(small) / np.linalg.norm(exact) / 0.001 - 4) < 0.2)

for name in ("bernoulli-quadratic", "linear"):
    for label in ("reinforce", "reinforce-loo(group=4)"):
        claims.check(f"{name}: {label} is '{row(name, label)['verdict']}'",
                     row(name, label)["verdict"] == "consistent with unbiased")
for name in PROBLEMS:
    loo_row, plain_row = row(name, "reinforce-loo(group=4)"), row(name, "reinforce")
    per_estimate = plain_row["variance"] / loo_row["variance"]
    per_draw = plain_row["variance_per_draw"] / loo_row["variance_per_draw"]
    claims.check(f"{name}: the leave-one-out baseline cuts REINFORCE's variance {per_estimate:.0f}x per estimate, "
                 f"{per_draw:.1f}x at equal cost ({loo_row['draws']} draws per estimate)",
                 per_estimate > 3 and abs(per_estimate / per_draw - loo_row["draws"]) < 1e-9)
    ok = [r for r in results[name][1] if "error" not in r]
    lowest = min(ok, key=lambda r: r["variance"])
    t10 = row(name, "gumbel(temperature=10.0)")
    claims.check(f"{name}: Gumbel T=10 has the lowest variance ({t10['variance']:.2g}) and is '{t10['verdict']}'",
                 lowest is t10 and t10["verdict"] == "biased")
    ils_rows = [r for r in ok if r["estimator"] == "ils"]
    claims.check(f"{name}: ILS is flagged biased at " + ", ".join(
        f"alpha={r['params']['alpha']:g} (|z|={r['max_abs_z']:.0f})" for r in ils_rows if r["verdict"] == "biased"),
        any(r["verdict"] == "biased" for r in ils_rows))
protos = [r for r in results["bernoulli-quadratic"][1] if r["estimator"] == "ils-prototype" and "error" not in r]
claims.check("bernoulli-quadratic: the prototype's mean is nearly orthogonal to the exact gradient (cosines "
             + ", ".join(f"{r['cosine']:+.3f}" for r in protos) + ")", all(abs(r["cosine"]) < 0.2 for r in protos))
bq_ils = [r for r in results["bernoulli-quadratic"][1] if r["estimator"] == "ils"]
claims.check("bernoulli-quadratic: ILS's signal-to-noise ratio is tiny (SNR "
             + ", ".join(f"{r['snr']:.3f}" for r in bq_ils) + " for alpha = 0.1, 0.01, 0.001), and the table "
             f"marks {sum(not r['cosine_meaningful'] for r in bq_ils)} of its 3 cosines as noise",
             all(r["snr"] < 0.1 for r in bq_ils) and any(not r["cosine_meaningful"] for r in bq_ils))
g01 = {name: row(name, "gumbel(temperature=0.1)")["verdict"] for name in PROBLEMS}
claims.check("the check cannot fault every biased estimator: Gumbel T=0.1 (biased at any T > 0) is "
             + ", ".join(f"'{v}' on {k}" for k, v in g01.items()),
             g01["linear"] == "consistent with unbiased")
st = row("bernoulli-quadratic", "straight-through(temperature=1.0)")
claims.check(f"bernoulli-quadratic: straight-through is '{st['verdict']}' (|z| = {st['max_abs_z']:.1f})",
             st["verdict"] == "biased")


# %% [markdown]
# ## Summary of the checked claims

# %%
claims.finish()
