/* The C routes of container/codecs/csv.py and json.py, and of training's pieces (container/
 * training/chunks.py): the extension module _row_reader, which codecs/routes.py imports where
 * `make`, pip or the Dockerfile has built it (container/codecs/_row_reader.*.so; else the slower
 * simdjson and pandas routes serve the same bodies, and chunks.py's Python path the same pieces).
 * csv_rows and json_row give the float64 values of a body, as a bytearray, or None when the other
 * routes must decide; what they take, the strict path takes too, with the very same values, and
 * every number they give is finite (a number beyond float64 is left to the strict path, which
 * reads it as infinite for schema.conform to refuse).
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
 * csv_block(body): a training channel's piece (container/training/chunks.py): csv_rows' grammar,
 * at least two fields, none empty in the first column; the first column as float64 labels, the
 * others as float32 features (C's cast of each double, IEEE round to nearest as numpy's astype).
 *
 * libsvm_block(body): a training channel's libsvm piece: lines ended by LF or CRLF, each a label
 * then `index:value` pairs, separated by spaces or tabs; the label and values written as CSV's
 * numbers (finite, as float() reads them), indices of 1 to 9 digits, strictly increasing within
 * a line (0-based, as serving reads them). The label as float64, the values as float32, in CSR
 * form. Not a blank line, a comment, a `qid:` token, a repeated or decreasing index, or any
 * other byte: chunks.py's other path decides, and words the refusal.
 *
 * Threads: a body of UNLOCKED_BYTES or more is counted and parsed with the GIL released (no
 * Python API inside: the outputs are allocated before), so pieces of a file parse on every core.
 * There a number the fast path below does not take goes to the C library's strtod instead of
 * float()'s own parser, which needs the GIL: both round correctly (glibc's strtod is exact in
 * the C locale Python keeps for LC_NUMERIC; another decimal point makes it decline, not misread),
 * so the double is the same; tests/test_row_reader_blocks.py holds them to it. Serving's bodies
 * (at most codecs/csv.py's C_CSV_BYTES) stay below UNLOCKED_BYTES and keep float()'s parser.
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
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char UTF8_BOM[] = "\xef\xbb\xbf";
static const double EXACT_POWERS_OF_TEN[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                             1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
#define MAX_EXACT_POWER 22
#define MAX_EXACT_SIGNIFICAND (UINT64_C(1) << 53)
#define MAX_SIGNIFICANT_DIGITS 16 /* fewer than 20: the significand cannot overflow 64 bits */
#define UNLOCKED_BYTES (1024 * 1024) /* ~0.3 ms of parsing: beside it, dropping the GIL costs nothing */
#define MAX_LIBSVM_INDEX_DIGITS 9 /* indices below 10^9, as codecs/libsvm.py reads them */
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

/* The number at p (before end) by Clinger's fast path, written to *value: where it ends, or NULL
 * when the path does not apply (too many digits, too large an exponent, or not of the form
 * [+-]digits[.digits][e[+-]digits] with a digit in the significand: float() then decides). It
 * stops at the first byte past that form, which may still be part of the token. */
static const char *fast_number(const char *p, const char *end, double *value)
{
    int negative = 0, digits = 0, seen_digit = 0;
    uint64_t significand = 0;
    Py_ssize_t exponent = 0;
    if (p < end && (*p == '-' || *p == '+'))
        negative = *p++ == '-';
    for (; p < end && is_digit(*p); p++, seen_digit = 1)
        if (!append_digit(*p, &significand, &digits))
            return NULL;
    if (p < end && *p == '.')
        for (p++; p < end && is_digit(*p); p++, seen_digit = 1, exponent--)
            if (!append_digit(*p, &significand, &digits))
                return NULL;
    if (!seen_digit)
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int exponent_negative = 0;
        Py_ssize_t written = 0;
        if (++p < end && (*p == '-' || *p == '+'))
            exponent_negative = *p++ == '-';
        if (p == end || !is_digit(*p))
            return NULL;
        for (; p < end && is_digit(*p); p++) {
            if (written > EXPONENT_READ_LIMIT)
                return NULL;
            written = written * 10 + (*p - '0');
        }
        exponent += exponent_negative ? -written : written;
    }
    if (significand > MAX_EXACT_SIGNIFICAND)
        return NULL;
    double magnitude = (double)significand;
    if (significand != 0) {
        if (exponent < -MAX_EXACT_POWER || exponent > MAX_EXACT_POWER)
            return NULL;
        magnitude = exponent < 0 ? magnitude / EXACT_POWERS_OF_TEN[-exponent]
                                 : magnitude * EXACT_POWERS_OF_TEN[exponent];
    }
    *value = negative ? -magnitude : magnitude;
    return p;
}

/* The number in [p, stop) by Clinger's fast path, written to *value; 0 when it does not apply. */
static int read_exactly(const char *p, const char *stop, double *value)
{
    return fast_number(p, stop, value) == stop;
}

/* The end of the number token at p (the bytes CSV's numbers are written with), reading it into
 * *value: by the fast path in the same pass when it applies and the token ends there, else as
 * read_number does; NULL when the token is not a finite number float() reads. An empty token
 * gives p itself, *value untouched. */
static const char *read_token(const char *p, const char *end, double *value, int unlocked);

/* The number in [start, stop) as float() reads it, or 0 when float() refuses it. `unlocked`:
 * the GIL is released, so the C library's correctly rounding strtod stands in for float()'s. */
static int read_number(const char *start, const char *stop, double *value, int unlocked)
{
    if (read_exactly(start, stop, value))
        return 1;
    char *end;
    if (unlocked) {
        *value = strtod(start, &end); /* stops at the comma, space or line end after */
        return end == stop;
    }
    *value = PyOS_string_to_double(start, &end, NULL); /* stops at the comma or space after */
    if (end != stop) {
        PyErr_Clear(); /* a ValueError when no number starts here; the strict path words it */
        return 0;
    }
    return 1;
}

static const char *read_token(const char *p, const char *end, double *value, int unlocked)
{
    const char *stop = fast_number(p, end, value);
    if (stop != NULL && (stop == end || !in_number(*stop)))
        return stop;
    for (stop = p; stop < end && in_number(*stop); stop++)
        ;
    if (stop == p)
        return p;
    return read_number(p, stop, value, unlocked) && isfinite(*value) ? stop : NULL;
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
static int read_csv_field(const char **p, const char *end, double *value, int *missing, int unlocked)
{
    const char *q = *p;
    while (q < end && *q == ' ')
        q++;
    const char *stop = read_token(q, end, value, unlocked);
    if (stop == NULL)
        return 0;
    if (stop == q) {
        *value = Py_NAN;
        *missing = 1;
    }
    while (stop < end && *stop == ' ')
        stop++;
    *p = stop;
    return 1;
}

/* Where a CSV body's values go: `values` (csv_rows: every field, float64), or `labels` and
 * `features` (csv_block: the first field float64, the others float32). */
typedef struct {
    double *values;
    double *labels;
    float *features;
} CsvOutput;

/* Stores field `column` of the current row; 0 for a missing label, which csv_block declines. */
static int store_csv_field(CsvOutput *out, Py_ssize_t column, double value)
{
    if (out->values != NULL) {
        *out->values++ = value;
        return 1;
    }
    if (column > 0) {
        *out->features++ = (float)value; /* beyond float32: infinite, as numpy's astype */
        return 1;
    }
    *out->labels++ = value;
    return !isnan(value);
}

/* Fills the output (rows x width) from the lines in [p, end); 0 at the first thing it declines:
 * a field, a line of another width, a stray CR, a blank line (one field, empty). */
static int read_csv_lines(const char *p, const char *end, Py_ssize_t rows, Py_ssize_t width, CsvOutput *out,
                          int *missing, int unlocked)
{
    for (Py_ssize_t row = 0; row < rows; row++) {
        double value = 0.0;
        for (Py_ssize_t column = 0; column < width; column++) {
            if (!read_csv_field(&p, end, &value, missing, unlocked) || !store_csv_field(out, column, value))
                return 0;
            if (column + 1 < width && (p == end || *p++ != ','))
                return 0;
        }
        p = after_line_end(p, end);
        if (p == NULL || (width == 1 && isnan(value)))
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

/* The body without its final line ends; an empty body stays empty. */
static const char *before_final_line_ends(const char *p, const char *end)
{
    while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    return end;
}

/* A new bytearray of `count` items of `size` bytes, or NULL (MemoryError). */
static PyObject *new_buffer(Py_ssize_t count, size_t size)
{
    return PyByteArray_FromStringAndSize(NULL, count * (Py_ssize_t)size);
}

/* The GIL released for a body of UNLOCKED_BYTES or more (NULL: kept), and taken back. */
static PyThreadState *release_for(const char *p, const char *end)
{
    return end - p >= UNLOCKED_BYTES ? PyEval_SaveThread() : NULL;
}

static void take_back(PyThreadState *state)
{
    if (state != NULL)
        PyEval_RestoreThread(state);
}

/* Counts the bytes `separator` and the lines of [p, end), which does not end with a line end. */
static void count_lines(const char *p, const char *end, char separator, Py_ssize_t *separators,
                        Py_ssize_t *rows)
{
    PyThreadState *state = release_for(p, end);
    Py_ssize_t c = 0, r = 1;
    for (const char *q = p; q < end; q++) {
        c += *q == separator;
        r += *q == '\n';
    }
    *separators = c;
    *rows = r;
    take_back(state);
}

static PyObject *declined(PyObject *values)
{
    Py_DECREF(values);
    Py_RETURN_NONE;
}

/* The CSV body's rows and width in *rows, *width; 0 when it cannot be plain CSV (empty, or
 * lines that cannot all have as many fields as the first). */
static int csv_shape(const char *p, const char *end, Py_ssize_t *rows, Py_ssize_t *width)
{
    if (p == end)
        return 0; /* empty: the strict path says so */
    Py_ssize_t commas;
    count_lines(p, end, ',', &commas, rows);
    if ((commas + *rows) % *rows != 0)
        return 0;
    *width = (commas + *rows) / *rows;
    return 1;
}

/* The CSV body's bytes (without its final line ends) and shape: 1; 0 when the body cannot be
 * plain CSV; -1 (an exception set) when it is not bytes. */
static int csv_body(PyObject *body, const char **p, const char **end, Py_ssize_t *rows, Py_ssize_t *width)
{
    if (!body_bytes(body, p, end))
        return -1;
    *end = before_final_line_ends(*p, *end);
    return csv_shape(*p, *end, rows, width);
}

static int parse_csv(const char *p, const char *end, Py_ssize_t rows, Py_ssize_t width, CsvOutput *out,
                     int *missing)
{
    PyThreadState *state = release_for(p, end);
    int read = read_csv_lines(p, end, rows, width, out, missing, state != NULL);
    take_back(state);
    return read;
}

static PyObject *csv_rows(PyObject *Py_UNUSED(module), PyObject *body)
{
    const char *p, *end;
    Py_ssize_t rows, width;
    int shaped = csv_body(body, &p, &end, &rows, &width);
    if (shaped <= 0)
        return shaped < 0 ? NULL : Py_NewRef(Py_None);
    PyObject *values = new_buffer(rows * width, sizeof(double));
    if (values == NULL)
        return NULL;
    int missing = 0;
    CsvOutput out = {(double *)PyByteArray_AS_STRING(values), NULL, NULL};
    if (!parse_csv(p, end, rows, width, &out, &missing))
        return declined(values);
    return Py_BuildValue("(NnN)", values, rows, PyBool_FromLong(missing));
}

static PyObject *csv_block(PyObject *Py_UNUSED(module), PyObject *body)
{
    const char *p, *end;
    Py_ssize_t rows, width;
    int shaped = csv_body(body, &p, &end, &rows, &width);
    if (shaped <= 0 || width < 2)
        return shaped < 0 ? NULL : Py_NewRef(Py_None);
    PyObject *labels = new_buffer(rows, sizeof(double));
    PyObject *features = labels == NULL ? NULL : new_buffer(rows * (width - 1), sizeof(float));
    if (features == NULL) {
        Py_XDECREF(labels);
        return NULL;
    }
    int missing = 0;
    CsvOutput out = {NULL, (double *)PyByteArray_AS_STRING(labels), (float *)PyByteArray_AS_STRING(features)};
    if (!parse_csv(p, end, rows, width, &out, &missing)) {
        Py_DECREF(features);
        return declined(labels);
    }
    return Py_BuildValue("(NNnn)", labels, features, rows, width - 1);
}

/* --- libsvm --- */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static const char *after_blanks(const char *p, const char *end)
{
    while (p < end && is_blank(*p))
        p++;
    return p;
}

/* A number token at *p (CSV's characters), moving *p past it; 0 unless it is a finite number
 * float() reads. */
static int read_token_number(const char **p, const char *end, double *value, int unlocked)
{
    const char *stop = read_token(*p, end, value, unlocked);
    if (stop == NULL || stop == *p)
        return 0;
    *p = stop;
    return 1;
}

/* The index of an `index:` at *p, moving *p past the colon; -1 when it is not one. */
static long read_libsvm_index(const char **p, const char *end)
{
    const char *q = *p;
    long index = 0;
    for (; q < end && is_digit(*q); q++) {
        if (q - *p == MAX_LIBSVM_INDEX_DIGITS)
            return -1;
        index = index * 10 + (*q - '0');
    }
    if (q == *p || q == end || *q != ':')
        return -1;
    *p = q + 1;
    return index;
}

/* Where a libsvm piece's rows go, in CSR form. */
typedef struct {
    double *labels;
    float *data;
    int32_t *indices;
    int32_t *indptr;
    Py_ssize_t count; /* pairs stored */
    long width;       /* largest index + 1 */
    int unlocked;     /* the GIL is released */
} SparseOutput;

/* Reads one libsvm line at p (its label, then pairs) into `out`; where it ends (past its line
 * end), or NULL at the first thing it declines. */
static const char *read_libsvm_line(const char *p, const char *end, SparseOutput *out)
{
    p = after_blanks(p, end);
    if (!read_token_number(&p, end, out->labels++, out->unlocked))
        return NULL;
    for (long previous = -1;;) {
        const char *q = after_blanks(p, end);
        if (q == end || *q == '\r' || *q == '\n')
            return after_line_end(q, end);
        if (q == p)
            return NULL; /* a label or value runs into the next token */
        p = q;
        long index = read_libsvm_index(&p, end);
        double value;
        if (index <= previous || !read_token_number(&p, end, &value, out->unlocked))
            return NULL;
        previous = index;
        out->indices[out->count] = (int32_t)index;
        out->data[out->count++] = (float)value;
        if (index + 1 > out->width)
            out->width = index + 1;
    }
}

static int read_libsvm_lines(const char *p, const char *end, Py_ssize_t rows, SparseOutput *out)
{
    out->indptr[0] = 0;
    for (Py_ssize_t row = 0; row < rows; row++) {
        p = read_libsvm_line(p, end, out);
        if (p == NULL)
            return 0;
        out->indptr[row + 1] = (int32_t)out->count;
    }
    return p == end;
}

static PyObject *libsvm_block(PyObject *Py_UNUSED(module), PyObject *body)
{
    const char *p, *end;
    Py_ssize_t colons, rows;
    if (!body_bytes(body, &p, &end))
        return NULL;
    end = before_final_line_ends(p, end);
    if (p == end)
        Py_RETURN_NONE;
    count_lines(p, end, ':', &colons, &rows);
    if (colons >= INT32_MAX)
        Py_RETURN_NONE;
    PyObject *labels = new_buffer(rows, sizeof(double));
    PyObject *data = labels == NULL ? NULL : new_buffer(colons, sizeof(float));
    PyObject *indices = data == NULL ? NULL : new_buffer(colons, sizeof(int32_t));
    PyObject *indptr = indices == NULL ? NULL : new_buffer(rows + 1, sizeof(int32_t));
    if (indptr == NULL) {
        Py_XDECREF(labels);
        Py_XDECREF(data);
        Py_XDECREF(indices);
        return NULL;
    }
    SparseOutput out = {(double *)PyByteArray_AS_STRING(labels), (float *)PyByteArray_AS_STRING(data),
                        (int32_t *)PyByteArray_AS_STRING(indices), (int32_t *)PyByteArray_AS_STRING(indptr),
                        0, 0, 0};
    PyThreadState *state = release_for(p, end);
    out.unlocked = state != NULL;
    int read = read_libsvm_lines(p, end, rows, &out) && out.count == colons;
    take_back(state);
    if (!read) {
        Py_DECREF(data);
        Py_DECREF(indices);
        Py_DECREF(indptr);
        return declined(labels);
    }
    return Py_BuildValue("(NNNNnl)", labels, data, indices, indptr, rows, out.width);
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
        if (stop == NULL || !read_number(start, stop, &values[i], 0) || !isfinite(values[i]))
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
    PyObject *values = new_buffer(fields, sizeof(double));
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
    {"csv_block", csv_block, METH_O,
     "csv_block(body, /)\n--\n\n(labels, features, rows, width) of a training piece of plain CSV "
     "numbers: the first column as float64 labels, the others as float32 features, each as a "
     "bytearray; None when chunks.py's other path must decide."},
    {"libsvm_block", libsvm_block, METH_O,
     "libsvm_block(body, /)\n--\n\n(labels, data, indices, indptr, rows, width) of a training "
     "piece of libsvm: float64 labels and a CSR matrix (float32 data, int32 indices and indptr), "
     "each as a bytearray; None when chunks.py's other path must decide."},
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
