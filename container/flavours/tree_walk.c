/* tree_walk.py's walk in C: the extension module _tree_walk, which compiled_walk.py loads; built
 * into _tree_walk.so by `make` and the Dockerfile. Same layout (see TreeWalk), same float32
 * arithmetic in the same order, so it answers bit for bit what the numpy walk answers;
 * compiled_walk.py proves that against XGBoost at load time all the same. No fast-math and no
 * contraction: every operation rounds as written.
 *
 * An extension module rather than a plain library called through ctypes: one row of 200 trees of
 * depth 6 took 62,400 instructions from Python with ctypes (the walk ~26,000; ctypes converting
 * the call's 12 arguments ~11,500; copying the row to float32 and finding addresses most of the
 * rest) and takes 37,600 as a call with the model's arrays bound once (callgrind). The rows are
 * read as they come, float64, each value cast to float32 as it is read.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Rows are walked BLOCK at a time, tree by tree: the block's walks down one tree are independent,
 * so the processor overlaps their memory reads instead of waiting on each in turn. 10,000 rows
 * of 200 trees took 28 ms one row at a time, 15 ms in blocks of 32 (XGBoost: 33 ms). */
#define BLOCK 32
/* Fewer rows than FEW_ROWS have too few walks to overlap: each row instead walks GROUP trees at
 * once, whose walks are independent too. One row of 200 trees of depth 6: 9.1 us in a block,
 * 3.5 us in groups of 16; 18 us and 11 us after the cache was flushed. */
#define FEW_ROWS 4
#define GROUP 16

/* A row's margin: its leaves' float32 sum, tree by tree from tree 0, as walk_block sums them. */
static float walk_row(const double *row, int64_t n_trees, int64_t depth, const int64_t *level_starts,
                      const int32_t *features, const float *thresholds, const uint8_t *missing_right,
                      const float *leaves)
{
    const int64_t *leaf_starts = level_starts + depth * n_trees;
    float sum = 0.0f;
    for (int64_t first = 0; first < n_trees; first += GROUP) {
        const int64_t n = n_trees - first < GROUP ? n_trees - first : GROUP;
        int64_t positions[GROUP];
        for (int64_t g = 0; g < n; g++)
            positions[g] = 0;
        for (int64_t level = 0; level < depth; level++) {
            const int64_t *starts = level_starts + level * n_trees + first;
            for (int64_t g = 0; g < n; g++) {
                const int64_t slot = starts[g] + positions[g];
                const float value = (float)row[features[slot]];
                const int right = isnan(value) ? missing_right[slot] : value >= thresholds[slot];
                positions[g] = 2 * positions[g] + right;
            }
        }
        for (int64_t g = 0; g < n; g++) {
            const float leaf = leaves[leaf_starts[first + g] + positions[g]];
            sum = first + g == 0 ? leaf : sum + leaf;
        }
    }
    return sum;
}

/* The margins of n <= BLOCK rows, the rows walking down each tree together. */
static void walk_block(const float *block, int64_t n, int64_t width, int64_t n_trees, int64_t depth,
                       const int64_t *level_starts, const int32_t *features, const float *thresholds,
                       const uint8_t *missing_right, const float *leaves, float *margins)
{
    const int64_t *leaf_starts = level_starts + depth * n_trees;
    float sums[BLOCK];
    int64_t positions[BLOCK];
    for (int64_t t = 0; t < n_trees; t++) {
        for (int64_t i = 0; i < n; i++)
            positions[i] = 0;
        for (int64_t level = 0; level < depth; level++) {
            const int64_t start = level_starts[level * n_trees + t];
            for (int64_t i = 0; i < n; i++) {
                const int64_t slot = start + positions[i];
                const float value = block[i * width + features[slot]];
                const int right = isnan(value) ? missing_right[slot] : value >= thresholds[slot];
                positions[i] = 2 * positions[i] + right;
            }
        }
        for (int64_t i = 0; i < n; i++) {
            const float leaf = leaves[leaf_starts[t] + positions[i]];
            sums[i] = t == 0 ? leaf : sums[i] + leaf;
        }
    }
    for (int64_t i = 0; i < n; i++)
        margins[i] = sums[i];
}

/* XGBoost's sigmoid, in place: 1 / (expf(min(-x, 88.7)) + 1 + 1e-16), each step in float32. */
static void sigmoid(float *values, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float exponent = -values[i] < 88.7f ? -values[i] : 88.7f;
        float denominator = expf(exponent);
        denominator += 1.0f;
        denominator += 1e-16f;
        values[i] = 1.0f / denominator;
    }
}

/* One margin per row: the float32 sum, tree by tree, of the leaf each tree sends the row to, each
 * value of `rows` read as float32 (as XGBoost reads it). level_starts is (depth + 1) x n_trees:
 * where each tree's slots begin at each level, the last level indexing `leaves`. A row's value
 * below a threshold goes left; a missing (NaN) value goes the way missing_right says. Tree 0 is
 * the stump holding the base margin. With `logistic`, each margin is then replaced by its
 * sigmoid, in the same call. Returns 0, or -1 when memory for a block ran out.
 * A few rows are read where they are; blocks are first copied to float32, which halves what the
 * walk reads (10,000 rows of 200 trees: 17.4-17.8 ms, against 18.5-19.2 read as float64). */
static int walk_margins(const double *rows, int64_t n_rows, int64_t width, int64_t n_trees, int64_t depth,
                        const int64_t *level_starts, const int32_t *features, const float *thresholds,
                        const uint8_t *missing_right, const float *leaves, float *margins, int logistic)
{
    if (n_rows < FEW_ROWS) {
        for (int64_t r = 0; r < n_rows; r++)
            margins[r] = walk_row(rows + r * width, n_trees, depth, level_starts, features, thresholds,
                                  missing_right, leaves);
    } else {
        float *block = malloc(sizeof(float) * BLOCK * width);
        if (block == NULL)
            return -1;
        for (int64_t first = 0; first < n_rows; first += BLOCK) {
            const int64_t n = n_rows - first < BLOCK ? n_rows - first : BLOCK;
            const double *source = rows + first * width;
            for (int64_t k = 0; k < n * width; k++)
                block[k] = (float)source[k];
            walk_block(block, n, width, n_trees, depth, level_starts, features, thresholds, missing_right,
                       leaves, margins + first);
        }
        free(block);
    }
    if (logistic)
        sigmoid(margins, n_rows);
    return 0;
}

/* --- the module ------------------------------------------------------------------------------ */

/* margins(level_starts, features, thresholds, missing_right, leaves, depth, min_width, rows,
 *         margins, logistic, release_gil): the model's arrays and shape (bound once, by
 * compiled_walk.py), then a call's: writes each row's margin, or with `logistic` its sigmoid,
 * into `margins`. With `release_gil` the process's other threads run meanwhile. */
enum {
    LEVEL_STARTS, FEATURES, THRESHOLDS, MISSING_RIGHT, LEAVES, DEPTH, MIN_WIDTH, ROWS, MARGINS, LOGISTIC,
    RELEASE_GIL, N_ARGS
};
static const int BUFFERS[] = {LEVEL_STARTS, FEATURES, THRESHOLDS, MISSING_RIGHT, LEAVES, ROWS, MARGINS};
#define N_BUFFERS ((int)(sizeof BUFFERS / sizeof BUFFERS[0]))
static const Py_ssize_t ITEM_SIZES[N_BUFFERS] = {8, 4, 4, 1, 4, 8, 4};
static const char *const NAMES[N_BUFFERS] = {
    "level_starts", "features", "thresholds", "missing_right", "leaves", "rows", "margins",
};

/* Each buffer argument's buffer, C-contiguous, of its item size; rows must be float64 (format
 * "d") and margins writable float32 ("f"). Returns how many were acquired: all on success. */
static int acquire(PyObject *const *args, Py_buffer *views)
{
    for (int i = 0; i < N_BUFFERS; i++) {
        const int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (BUFFERS[i] == MARGINS ? PyBUF_WRITABLE : 0);
        if (PyObject_GetBuffer(args[BUFFERS[i]], &views[i], flags) < 0)
            return i;
        const char *format = BUFFERS[i] == ROWS ? "d" : BUFFERS[i] == MARGINS ? "f" : "";
        if (views[i].itemsize != ITEM_SIZES[i] || (*format && strcmp(views[i].format, format) != 0)) {
            PyErr_Format(PyExc_TypeError, "%s: expected items of %zd bytes%s%s", NAMES[i], ITEM_SIZES[i],
                         *format ? " in format " : "", format);
            PyBuffer_Release(&views[i]);
            return i;
        }
    }
    return N_BUFFERS;
}

struct shape {
    int64_t depth, min_width, n_trees, n_rows, width;
};

/* Whether the buffers fit the shape: every tree has 2**depth - 1 inner slots and 2**depth
 * leaves; rows are n_rows x width, width at least min_width (one past the highest split feature),
 * and margins one per row. Fills in n_trees, n_rows and width. */
static int shapes_agree(const Py_buffer *views, struct shape *shape)
{
    if (shape->depth < 1 || shape->depth > 30 || shape->min_width < 1) {
        PyErr_SetString(PyExc_ValueError, "depth or min_width out of range");
        return 0;
    }
    const Py_buffer *starts = &views[0], *features = &views[1], *thresholds = &views[2];
    const Py_buffer *missing_right = &views[3], *leaves = &views[4], *rows = &views[5], *margins = &views[6];
    shape->n_trees = starts->len / 8 / (shape->depth + 1);
    const int64_t inner = shape->n_trees * ((INT64_C(1) << shape->depth) - 1);
    if (shape->n_trees < 1 || starts->len / 8 != shape->n_trees * (shape->depth + 1)
        || features->len / 4 != inner || thresholds->len / 4 != inner || missing_right->len != inner
        || leaves->len / 4 != shape->n_trees << shape->depth) {
        PyErr_SetString(PyExc_ValueError, "the tree arrays do not fit the depth");
        return 0;
    }
    if (rows->ndim != 2 || rows->shape[1] < shape->min_width || margins->ndim != 1
        || margins->shape[0] != rows->shape[0]) {
        PyErr_SetString(PyExc_ValueError, "rows must be 2-D and min_width wide, with one margin each");
        return 0;
    }
    shape->n_rows = rows->shape[0];
    shape->width = rows->shape[1];
    return 1;
}

static PyObject *margins(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != N_ARGS) {
        PyErr_Format(PyExc_TypeError, "margins takes %d arguments (%zd given)", N_ARGS, nargs);
        return NULL;
    }
    struct shape shape = {PyLong_AsLongLong(args[DEPTH]), PyLong_AsLongLong(args[MIN_WIDTH]), 0, 0, 0};
    const int logistic = PyObject_IsTrue(args[LOGISTIC]);
    const int release_gil = PyObject_IsTrue(args[RELEASE_GIL]);
    if (PyErr_Occurred() || logistic < 0 || release_gil < 0)
        return NULL;
    Py_buffer views[N_BUFFERS];
    const int acquired = acquire(args, views);
    const int ok = acquired == N_BUFFERS && shapes_agree(views, &shape);
    int walked = 0;
    if (ok) {
        PyThreadState *state = release_gil ? PyEval_SaveThread() : NULL;
        walked = walk_margins(views[5].buf, shape.n_rows, shape.width, shape.n_trees, shape.depth,
                              views[0].buf, views[1].buf, views[2].buf, views[3].buf, views[4].buf,
                              views[6].buf, logistic);
        if (state)
            PyEval_RestoreThread(state);
        if (walked < 0)
            PyErr_NoMemory();
    }
    for (int i = 0; i < acquired; i++)
        PyBuffer_Release(&views[i]);
    if (!ok || walked < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef METHODS[] = {
    {"margins", (PyCFunction)(void (*)(void))margins, METH_FASTCALL,
     "margins(level_starts, features, thresholds, missing_right, leaves, depth, min_width, rows, margins,"
     " logistic, release_gil)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "_tree_walk", "tree_walk.py's walk in C: see tree_walk.c.", -1, METHODS,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__tree_walk(void)
{
    return PyModule_Create(&MODULE);
}
