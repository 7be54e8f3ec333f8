/* The C routes of container/codecs/csv.py and json.py: the extension module _row_reader, which
 * codecs/routes.py imports where `make`, pip or the Dockerfile has built it (container/codecs/
 * _row_reader.*.so; else the slower simdjson and pandas routes serve the same bodies). Each function gives the float64 values of a body, as
 * a bytearray, or None when the other routes must decide; what it takes, the strict path takes
 * too, with the very same values, and every number it gives is finite (a number beyond float64 is
 * left to the strict path, which reads it as infinite for schema.conform to refuse).
 *
 * csv_rows(body): an optional UTF-8 BOM, then lines ended by LF or CRLF, each of as many fields
 * as the first, separated by commas, each spaces, a number written with 0-9 + - . e E or nothing
 * (a missing value, NaN, as the strict path reads it), spaces; any line ends at the very end. Not
 * any other byte, a stray CR, a blank line, lines of other widths, or what float() refuses. Each
 * number is the one float() reads, as in the strict path.
 *
 * json_row(body): an optional UTF-8 BOM, then `[numbers]`, `[[numbers]]`, or either as the value
 * of `{"instances": ...}` alone, with JSON whitespace between tokens; numbers in JSON's grammar.
 * Not null, another key, an escaped key, a second row: the other routes take those. Each number
 * is the one Python's json module reads: float() of a fraction or exponent, float(int()) of an
 * integer (the strict path's parse_int), which differ only in that the integer -0 is 0.0.
 *
 * Exactness: a number of at most 16 significant digits w with w <= 2^53 and a decimal exponent e
 * within +-22 is w * 10^e or w / 10^-e in one double operation: w and 10^|e| are exact doubles,
 * and one IEEE operation rounds correctly (Clinger's fast path). Every other number goes to
 * PyOS_string_to_double, float()'s own parser; int() then float() rounds the same integer
 * correctly too, so it gives the same double.
 *
 * Why: a CSV row of 30 fields took simdjson's route 4.4 us (the checks around it included) and
 * takes this 0.65 us; PyOS_string_to_double alone for each field would take 5.0 us (Python's dtoa
 * is exact but slow). 5 rows take decode_csv 6.2 us instead of 34. Bodies of more rows gain less,
 * and from ~300 rows of 30 fields simdjson's SIMD parse is faster: codecs/csv.py sends bodies over
 * C_CSV_BYTES there. `{"instances": [[...]]}` of 30 numbers took fast_json_rows 9.3 us and takes
 * fast_json_row 1.9, the numpy array included.
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

static int is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *after_json_space(const char *p, const char *end)
{
    while (p < end && is_json_space(*p))
        p++;
    return p;
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

/* Where the line that starts at p ends: past its LF or CRLF, or at end; NULL at anything else. */
static const char *after_line_end(const char *p, const char *end)
{
    if (p == end)
        return p;
    if (*p == '\r' && p + 1 < end)
        p++;
    return *p == '\n' ? p + 1 : NULL;
}

/* Reads one CSV field at *p, moving *p to the byte after it (a comma, a line end or the end):
 * spaces, a number or nothing (missing: NaN), spaces. 0 when it declines the field. */
static int read_csv_field(const char **p, const char *end, double *value, int *missing)
{
    const char *q = *p;
    while (q < end && *q == ' ')
        q++;
    const char *start = q;
    while (q < end && in_number(*q))
        q++;
    const char *stop = q;
    while (q < end && *q == ' ')
        q++;
    *p = q;
    if (stop == start) {
        *value = Py_NAN;
        *missing = 1;
        return 1;
    }
    return read_number(start, stop, value) && isfinite(*value);
}

/* Fills values (rows x width, row-major) from the lines in [p, end); 0 at the first thing it
 * declines: a field, a line of another width, a stray CR, a blank line (one field, empty). */
static int read_csv_lines(const char *p, const char *end, Py_ssize_t rows, Py_ssize_t width, double *values,
                          int *missing)
{
    for (Py_ssize_t row = 0; row < rows; row++) {
        for (Py_ssize_t column = 0; column < width; column++) {
            if (!read_csv_field(&p, end, values++, missing))
                return 0;
            if (column + 1 < width && (p == end || *p++ != ','))
                return 0;
        }
        p = after_line_end(p, end);
        if (p == NULL || (width == 1 && isnan(values[-1])))
            return 0; /* another field, a stray CR; or a blank line, which the strict path refuses */
    }
    return p == end;
}

/* The body's bytes, after one UTF-8 BOM if it starts with one; 0 (TypeError) if not bytes. */
static int body_bytes(PyObject *body, const char **start, const char **end)
{
    char *data;
    Py_ssize_t size;
    if (!PyBytes_Check(body)) {
        PyErr_SetString(PyExc_TypeError, "the body must be bytes");
        return 0;
    }
    if (PyBytes_AsStringAndSize(body, &data, &size) < 0)
        return 0;
    *start = size >= 3 && memcmp(data, UTF8_BOM, 3) == 0 ? data + 3 : data;
    *end = data + size;
    return 1;
}

/* A new bytearray for `count` float64 values, or NULL (MemoryError). */
static PyObject *new_values(Py_ssize_t count)
{
    return PyByteArray_FromStringAndSize(NULL, count * (Py_ssize_t)sizeof(double));
}

static PyObject *declined(PyObject *values)
{
    Py_DECREF(values);
    Py_RETURN_NONE;
}

static PyObject *csv_rows(PyObject *Py_UNUSED(module), PyObject *body)
{
    const char *p, *end;
    if (!body_bytes(body, &p, &end))
        return NULL;
    while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    if (p == end)
        Py_RETURN_NONE; /* empty: the strict path says so */
    Py_ssize_t commas = 0, rows = 1;
    for (const char *c = p; c < end; c++) {
        commas += *c == ',';
        rows += *c == '\n';
    }
    if ((commas + rows) % rows != 0)
        Py_RETURN_NONE; /* the lines cannot all have as many fields as the first */
    const Py_ssize_t width = (commas + rows) / rows;
    PyObject *values = new_values(commas + rows);
    if (values == NULL)
        return NULL;
    int missing = 0;
    if (!read_csv_lines(p, end, rows, width, (double *)PyByteArray_AS_STRING(values), &missing))
        return declined(values);
    return Py_BuildValue("(NnN)", values, rows, PyBool_FromLong(missing));
}

/* The end of the JSON number at p, or NULL: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
 * *integer says it has neither fraction nor exponent. */
static const char *json_number_end(const char *p, const char *end, int *integer)
{
    if (p < end && *p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return NULL;
    if (*p++ != '0')
        while (p < end && is_digit(*p))
            p++;
    *integer = 1;
    if (p < end && *p == '.') {
        *integer = 0;
        if (++p == end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *integer = 0;
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    return p;
}

/* Fills values[0..fields) from the numbers of a JSON array's inside [p, close), close being its
 * `]`; 0 at the first thing it declines. */
static int read_json_numbers(const char *p, const char *close, Py_ssize_t fields, double *values)
{
    for (Py_ssize_t i = 0; i < fields; i++) {
        int integer;
        const char *start = after_json_space(p, close);
        const char *stop = json_number_end(start, close, &integer);
        if (stop == NULL || !read_number(start, stop, &values[i]) || !isfinite(values[i]))
            return 0;
        if (integer && values[i] == 0.0)
            values[i] = 0.0; /* the integer -0 too: float(int("-0")) is 0.0 */
        p = after_json_space(stop, close);
        if (i + 1 == fields)
            return p == close;
        if (*p++ != ',')
            return 0;
    }
    return 1;
}

/* Moves *p past the expected text and any JSON whitespace after it; 0 if it is not there. */
static int expect(const char **p, const char *end, const char *text)
{
    size_t length = strlen(text);
    if ((size_t)(end - *p) < length || memcmp(*p, text, length) != 0)
        return 0;
    *p = after_json_space(*p + length, end);
    return 1;
}

static PyObject *json_row(PyObject *Py_UNUSED(module), PyObject *body)
{
    const char *p, *end;
    if (!body_bytes(body, &p, &end))
        return NULL;
    p = after_json_space(p, end);
    const int wrapped = expect(&p, end, "{");
    if (wrapped && !(expect(&p, end, "\"instances\"") && expect(&p, end, ":")))
        Py_RETURN_NONE;
    if (!expect(&p, end, "["))
        Py_RETURN_NONE;
    const int nested = expect(&p, end, "[");
    const char *close = memchr(p, ']', (size_t)(end - p));
    if (close == NULL)
        Py_RETURN_NONE;
    const char *after = after_json_space(close + 1, end);
    if ((nested && !expect(&after, end, "]")) || (wrapped && !expect(&after, end, "}")) || after != end)
        Py_RETURN_NONE;
    Py_ssize_t fields = 1;
    for (const char *c = p; c < close; c++)
        fields += *c == ',';
    PyObject *values = new_values(fields);
    if (values == NULL)
        return NULL;
    if (!read_json_numbers(p, close, fields, (double *)PyByteArray_AS_STRING(values)))
        return declined(values);
    return values;
}

static PyMethodDef METHODS[] = {
    {"csv_rows", csv_rows, METH_O,
     "csv_rows(body, /)\n--\n\n(values, rows, missing) of a CSV body of plain numbers: its float64 "
     "values, row after row, as a bytearray, its row count, and whether a field was empty (NaN); "
     "None when the strict path must decide."},
    {"json_row", json_row, METH_O,
     "json_row(body, /)\n--\n\nThe float64 values of a JSON body of one row of numbers, as a "
     "bytearray; None when the other routes must decide."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "_row_reader", "container/codecs' CSV and one-row JSON routes in C: see row_reader.c.",
    -1, METHODS,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__row_reader(void)
{
    return PyModule_Create(&MODULE);
}
