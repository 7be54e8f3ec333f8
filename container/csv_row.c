/* decoders.py's one-line CSV route in C: the extension module _csv_row, which decoders.py imports
 * when `make` or the Dockerfile has built it into container/_csv_row.so (else the slower simdjson
 * route serves the same bodies).
 *
 * read_row(body) gives the float64 values of a body of one line of plain numbers, as a bytearray,
 * or None when the strict path must decide. It takes: an optional UTF-8 BOM; fields separated by
 * commas, each spaces, a number written with 0-9 + - . e E, spaces; line ends (CR, LF) only at the
 * very end. It declines everything else: an empty field, any other byte, a line end inside the
 * body, what float() refuses, and a number beyond float64 (the strict path reads it as infinite,
 * and schema.conform refuses it), so every value it gives is finite.
 *
 * Exactness: each number is the one float() reads. A number of at most 16 significant digits w
 * with w <= 2^53 and a decimal exponent e within +-22 is w * 10^e or w / 10^-e in one double
 * operation: w and 10^|e| are exact doubles, and one IEEE operation rounds correctly (Clinger's
 * fast path). Every other number goes to PyOS_string_to_double, float()'s own parser.
 *
 * Why: 30 fields took simdjson's route 4.4 us (the checks around it included) and take this 0.65
 * us; PyOS_string_to_double alone for each would take 5.0 us (Python's dtoa is exact but slow).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static const char UTF8_BOM[] = "\xef\xbb\xbf";
static const double EXACT_POWERS_OF_TEN[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                             1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
#define MAX_EXACT_POWER 22
#define MAX_EXACT_SIGNIFICAND (UINT64_C(1) << 53)
#define MAX_SIGNIFICANT_DIGITS 16 /* fewer than 20: the significand cannot overflow 64 bits */
#define EXPONENT_READ_LIMIT 1000 /* a larger exponent is left to PyOS_string_to_double (0e9999 is 0) */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int in_number(char c)
{
    return is_digit(c) || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E';
}

/* Appends a digit to the significand, or fails (0) beyond MAX_SIGNIFICANT_DIGITS; leading zeros
 * are not significant. */
static int append_digit(char c, uint64_t *significand, int *digits)
{
    if (*significand == 0 && c == '0')
        return 1;
    if (++*digits > MAX_SIGNIFICANT_DIGITS)
        return 0;
    *significand = *significand * 10 + (uint64_t)(c - '0');
    return 1;
}

/* The number in [p, stop) by Clinger's fast path, written to *value; 0 when it does not apply
 * (too many digits, too large an exponent, or not of the form [+-]digits[.digits][e[+-]digits]
 * with a digit in the significand: float() then decides). */
static int read_exactly(const char *p, const char *stop, double *value)
{
    int negative = 0, digits = 0, seen_digit = 0;
    uint64_t significand = 0;
    Py_ssize_t exponent = 0;
    if (*p == '-' || *p == '+')
        negative = *p++ == '-';
    for (; p < stop && is_digit(*p); p++, seen_digit = 1)
        if (!append_digit(*p, &significand, &digits))
            return 0;
    if (p < stop && *p == '.')
        for (p++; p < stop && is_digit(*p); p++, seen_digit = 1, exponent--)
            if (!append_digit(*p, &significand, &digits))
                return 0;
    if (!seen_digit)
        return 0;
    if (p < stop && (*p == 'e' || *p == 'E')) {
        int exponent_negative = 0;
        Py_ssize_t written = 0;
        if (++p < stop && (*p == '-' || *p == '+'))
            exponent_negative = *p++ == '-';
        if (p == stop)
            return 0;
        for (; p < stop && is_digit(*p); p++) {
            if (written > EXPONENT_READ_LIMIT)
                return 0;
            written = written * 10 + (*p - '0');
        }
        exponent += exponent_negative ? -written : written;
    }
    if (p != stop || significand > MAX_EXACT_SIGNIFICAND)
        return 0;
    double magnitude = (double)significand;
    if (significand != 0) {
        if (exponent < -MAX_EXACT_POWER || exponent > MAX_EXACT_POWER)
            return 0;
        magnitude = exponent < 0 ? magnitude / EXACT_POWERS_OF_TEN[-exponent]
                                 : magnitude * EXACT_POWERS_OF_TEN[exponent];
    }
    *value = negative ? -magnitude : magnitude;
    return 1;
}

/* The number in [start, stop) as float() reads it, or 0 when float() refuses it. */
static int read_number(const char *start, const char *stop, double *value)
{
    if (read_exactly(start, stop, value))
        return 1;
    char *end;
    *value = PyOS_string_to_double(start, &end, NULL); /* stops at the comma or space after */
    if (end != stop) {
        PyErr_Clear(); /* a ValueError when no number starts here; the strict path words it */
        return 0;
    }
    return 1;
}

/* Fills values[0..fields) from the line [p, end); 0 at the first field it declines. */
static int read_fields(const char *p, const char *end, Py_ssize_t fields, double *values)
{
    for (Py_ssize_t i = 0; i < fields; i++) {
        while (p < end && *p == ' ')
            p++;
        const char *start = p;
        while (p < end && in_number(*p))
            p++;
        const char *stop = p;
        while (p < end && *p == ' ')
            p++;
        if (stop == start || (p < end && *p != ',') || !read_number(start, stop, &values[i]) ||
            !isfinite(values[i]))
            return 0;
        p++; /* past the comma */
    }
    return 1;
}

static PyObject *read_row(PyObject *Py_UNUSED(module), PyObject *body)
{
    char *data;
    Py_ssize_t size;
    if (!PyBytes_Check(body)) {
        PyErr_SetString(PyExc_TypeError, "read_row takes bytes");
        return NULL;
    }
    if (PyBytes_AsStringAndSize(body, &data, &size) < 0)
        return NULL;
    const char *p = data, *end = data + size;
    if (size >= 3 && memcmp(p, UTF8_BOM, 3) == 0)
        p += 3;
    while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    Py_ssize_t fields = 1;
    for (const char *c = p; c < end; c++)
        fields += *c == ',';
    PyObject *values = PyByteArray_FromStringAndSize(NULL, fields * (Py_ssize_t)sizeof(double));
    if (values == NULL)
        return NULL;
    if (!read_fields(p, end, fields, (double *)PyByteArray_AS_STRING(values))) {
        Py_DECREF(values);
        Py_RETURN_NONE;
    }
    return values;
}

static PyMethodDef METHODS[] = {
    {"read_row", read_row, METH_O,
     "read_row(body, /)\n--\n\nThe float64 values of a one-line CSV body of plain numbers, as a "
     "bytearray; None when the strict path must decide."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "_csv_row", "decoders.py's one-line CSV route in C: see csv_row.c.", -1, METHODS,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__csv_row(void)
{
    return PyModule_Create(&MODULE);
}
