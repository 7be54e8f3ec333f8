/* tree_shap.py's TreeSHAP of one group of leaf paths in C: the extension module _tree_shap, which
 * tree_shap.py loads when built (`make`, the Dockerfile, `pip install .`) and answers without
 * otherwise. The same arithmetic as its numpy `_add_group`, row by row and leaf by leaf, without
 * numpy's temporaries: a 100-tree forest of depth 10 took ~21 ms per row in numpy (three quarters
 * of it in `_product_game`'s passes over (rows, leaves, d) arrays). tests/test_contributions.py
 * checks both against shap and against each other. No contraction (pyproject.toml's flags).
 *
 * add_group(rows, features, low, unbounded_low, high, nan_ok, zero, values, weights, out,
 *           n_rows, n_features, n_leaves, d, n_outputs): adds to out (rows, outputs, features + 1)
 * each row's contributions from the group's leaves. Every array is C-contiguous, of the dtype
 * tree_shap.py gives it (float64; features int64; unbounded_low and nan_ok uint8); the sizes are
 * checked here against the counts, and every feature index against n_features.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define MAX_D 64 /* distinct features on one path; tree_shap.py sends longer paths to numpy */
#define N_BUFFERS 10

static const Py_ssize_t ITEM_SIZES[N_BUFFERS] = {8, 8, 8, 1, 8, 1, 8, 8, 8, 8};

static void leaf_into(const double *row, const int64_t *feature, const double *low, const uint8_t *unbounded,
                      const double *high, const uint8_t *nan_ok, const double *zero, const double *value,
                      const double *weights, int64_t d, int64_t n_outputs, int64_t width, double *out_row)
{
    double one[MAX_D], poly[MAX_D + 1];
    for (int64_t k = 0; k < d; k++) {
        const double x = row[feature[k]];
        one[k] = isnan(x) ? (double)nan_ok[k] : (double)((x > low[k] || unbounded[k]) && x <= high[k]);
        poly[k + 1] = 0.0;
    }
    poly[0] = 1.0;
    for (int64_t j = 0; j < d; j++) {
        for (int64_t m = j + 1; m >= 1; m--)
            poly[m] = poly[m] * zero[j] + poly[m - 1] * one[j];
        poly[0] *= zero[j];
    }
    double cold = 0.0;
    for (int64_t k = 0; k < d; k++)
        cold += poly[k] * weights[k];
    for (int64_t i = 0; i < d; i++) {
        double total;
        if (one[i] > 0.0) {
            double quotient = poly[d];
            total = weights[d - 1] * quotient;
            for (int64_t k = d - 1; k > 0; k--) {
                quotient = poly[k] - zero[i] * quotient;
                total = total + weights[k - 1] * quotient;
            }
        } else {
            total = cold / zero[i];
        }
        const double phi = (one[i] - zero[i]) * total;
        for (int64_t c = 0; c < n_outputs; c++)
            out_row[c * width + feature[i]] += phi * value[c];
    }
}

/* a * b into *out, or 0 when either is negative or the product leaves int64 (counts come from
   a model file or a request: checked before any product is used) */
static int count_product(int64_t a, int64_t b, int64_t *out)
{
    return a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, out);
}

static int sizes_agree(const Py_buffer *views, int64_t n, int64_t f, int64_t leaves, int64_t d, int64_t c)
{
    int64_t nf, ld, lc, nc, ncf;
    if (f == INT64_MAX || !count_product(n, f, &nf) || !count_product(leaves, d, &ld)
        || !count_product(leaves, c, &lc) || !count_product(n, c, &nc) || !count_product(nc, f + 1, &ncf))
        return 0;
    const int64_t counts[N_BUFFERS] = {nf, ld, ld, ld, ld, ld, ld, lc, d, ncf};
    for (int b = 0; b < N_BUFFERS; b++) {
        int64_t bytes;
        if (!count_product(counts[b], ITEM_SIZES[b], &bytes) || views[b].len != bytes)
            return 0;
    }
    const int64_t *features = views[1].buf;
    for (int64_t k = 0; k < ld; k++)
        if (features[k] < 0 || features[k] >= f)
            return 0;
    return d >= 1 && d <= MAX_D;
}

static PyObject *add_group(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer v[N_BUFFERS];
    long long n, f, leaves, d, c;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*w*LLLLL", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                          &v[6], &v[7], &v[8], &v[9], &n, &f, &leaves, &d, &c))
        return NULL;
    const int ok = sizes_agree(v, n, f, leaves, d, c);
    /* No leaves, nothing to add: rows of no features cost no bytes, so without this check a count
       of 2^32 of them looped for seconds (found by scripts/fuzz: corpus/tree_shap/no-leaves-many-rows) */
    if (ok && leaves > 0 && c > 0) {
        Py_BEGIN_ALLOW_THREADS
        for (int64_t r = 0; r < n; r++)
            for (int64_t l = 0; l < leaves; l++) {
                const int64_t at = l * d;
                leaf_into((const double *)v[0].buf + r * f, (const int64_t *)v[1].buf + at,
                          (const double *)v[2].buf + at, (const uint8_t *)v[3].buf + at,
                          (const double *)v[4].buf + at, (const uint8_t *)v[5].buf + at,
                          (const double *)v[6].buf + at, (const double *)v[7].buf + l * c,
                          (const double *)v[8].buf, d, c, f + 1, (double *)v[9].buf + r * c * (f + 1));
            }
        Py_END_ALLOW_THREADS
    }
    for (int b = 0; b < N_BUFFERS; b++)
        PyBuffer_Release(&v[b]);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "add_group: arrays do not fit the counts");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef METHODS[] = {
    {"add_group", add_group, METH_VARARGS, "Add one group of leaf paths' contributions: see tree_shap.c."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "_tree_shap", "tree_shap.py's TreeSHAP in C: see tree_shap.c.", -1, METHODS,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__tree_shap(void)
{
    return PyModule_Create(&MODULE);
}
