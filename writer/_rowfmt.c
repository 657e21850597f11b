/* writer._rowfmt: the SQL literals of an event's plain numeric fields in one call (writer.values, in C).
 *
 * fields(ev, spec) -> str | None. ``ev`` is an event dict, ``spec`` a tuple of (key, kind) pairs; the result
 * is the literals of ev[key] joined by commas, each exactly as writer.values renders it:
 *
 *     NU32   0  nullable INT UNSIGNED      exact int 0..2^32-1 -> decimal; None or missing -> NULL
 *     NU64   1  nullable BIGINT UNSIGNED   exact int 0..2^64-1 -> decimal; None or missing -> NULL
 *     NPRICE 2  nullable price             exact float or int strictly inside +/-1e14 -> "{:.4f}"; None or
 *                                          missing -> NULL
 *     TS6    3  recv_ts (required)         exact float or int strictly inside (0, 1e11) -> "{:.6f}"
 *     PRICE  4  price (required)           as NPRICE, without NULL
 *     U32    5  INT UNSIGNED (required)    as NU32, without NULL
 *
 * levels(side, max_levels) -> str | None: a 5-level depth side, a list of at most ``max_levels`` levels, each a
 * 3-item list [price, qty, orders], as "price,qty,orders,..." (price as writer.values.price renders it, the
 * counts as writer.values.u32 checks them; "" for an empty side).
 *
 * None means "not the plain case": some value the checks would refuse (wrong type, out of range, NaN, a bool,
 * a missing required value). The caller then renders the row in Python, which raises the one-line reason; no error
 * message lives here. Floats are formatted by PyOS_double_to_string, the function behind Python's format(),
 * so the digits are Python's. tests/writer/test_rowfmt_native.py compares every kind against writer.values.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { NU32 = 0, NU64 = 1, NPRICE = 2, TS6 = 3, PRICE = 4, U32 = 5 };   /* PRICE, U32: not nullable */

#define PRICE_MAX 1e14
#define RECV_TS_MAX 1e11
#define FIELD_MAX 64          /* the widest literal: a price of 1e14 with four decimals is 20 characters */

typedef struct {
    char *data;
    Py_ssize_t len, cap;
    char small[1024];
} buf_t;

static int append(buf_t *b, const char *s, Py_ssize_t n) {
    if (b->len + n > b->cap) {
        Py_ssize_t cap = 2 * (b->len + n);
        char *data = b->data == b->small ? PyMem_Malloc((size_t)cap) : PyMem_Realloc(b->data, (size_t)cap);
        if (data == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        if (b->data == b->small)
            memcpy(data, b->small, (size_t)b->len);
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

/* The double of an exact float or int value; 0 when it is neither (or an int too large to matter). */
static int number_of(PyObject *value, double *out) {
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        return 1;
    }
    if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
        /* every bound below is under 2^53: an int inside one converts to the double exactly, as
           format(int, ".4f") does */
        if (v <= -(1LL << 53) || v >= (1LL << 53))
            return 0;
        *out = (double)v;
        return 1;
    }
    return 0;
}

/* Appends the literal of ``value`` (NULL: missing); 1 done, 0 not plain, -1 error set. */
static int literal(buf_t *b, PyObject *value, long kind) {
    char text[FIELD_MAX];
    int n;
    if (value == NULL || value == Py_None) {
        if (kind == TS6 || kind == PRICE || kind == U32)
            return 0;
        return append(b, "NULL", 4) < 0 ? -1 : 1;
    }
    if (kind == NU32 || kind == NU64 || kind == U32) {
        unsigned long long v;
        if (!PyLong_CheckExact(value))
            return 0;
        v = PyLong_AsUnsignedLongLong(value);
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {   /* negative or above 2^64-1 */
            PyErr_Clear();
            return 0;
        }
        if (kind != NU64 && v > 0xFFFFFFFFULL)
            return 0;
        n = snprintf(text, sizeof text, "%llu", v);
        return append(b, text, n) < 0 ? -1 : 1;
    }
    if (kind == NPRICE || kind == PRICE || kind == TS6) {
        double d;
        char *s;
        int ok;
        if (!number_of(value, &d))
            return 0;
        ok = kind == TS6 ? (d > 0.0 && d < RECV_TS_MAX) : (d > -PRICE_MAX && d < PRICE_MAX);
        if (!ok)                                    /* NaN fails both comparisons */
            return 0;
        s = PyOS_double_to_string(d, 'f', kind == TS6 ? 6 : 4, 0, NULL);
        if (s == NULL)
            return -1;
        ok = append(b, s, (Py_ssize_t)strlen(s));
        PyMem_Free(s);
        return ok < 0 ? -1 : 1;
    }
    PyErr_Format(PyExc_ValueError, "unknown field kind %ld", kind);
    return -1;
}

static PyObject *fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *ev, *spec, *result = NULL;
    buf_t b;
    Py_ssize_t n;
    (void)self;
    if (nargs != 2 || !PyDict_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "fields(ev: dict, spec: tuple)");
        return NULL;
    }
    ev = args[0];
    spec = args[1];
    b.data = b.small;
    b.len = 0;
    b.cap = (Py_ssize_t)sizeof b.small;
    n = PyTuple_GET_SIZE(spec);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(spec, i), *value;
        long kind;
        int done;
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_SetString(PyExc_TypeError, "a field spec is (key, kind)");
            goto out;
        }
        kind = PyLong_AsLong(PyTuple_GET_ITEM(item, 1));
        if (kind == -1 && PyErr_Occurred())
            goto out;
        value = PyDict_GetItemWithError(ev, PyTuple_GET_ITEM(item, 0));   /* borrowed */
        if (value == NULL && PyErr_Occurred())
            goto out;
        if (i > 0 && append(&b, ",", 1) < 0)
            goto out;
        done = literal(&b, value, kind);
        if (done < 0)
            goto out;
        if (done == 0) {
            result = Py_None;
            Py_INCREF(result);
            goto out;
        }
    }
    result = PyUnicode_DecodeASCII(b.data, b.len, NULL);
out:
    if (b.data != b.small)
        PyMem_Free(b.data);
    return result;
}

static PyObject *levels(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static const long kinds[3] = {PRICE, U32, U32};
    PyObject *side, *result = NULL;
    Py_ssize_t max_levels, n;
    buf_t b;
    (void)self;
    if (nargs != 2 || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "levels(side, max_levels: int)");
        return NULL;
    }
    max_levels = PyLong_AsSsize_t(args[1]);
    if (max_levels == -1 && PyErr_Occurred())
        return NULL;
    side = args[0];
    if (!PyList_CheckExact(side) || PyList_GET_SIZE(side) > max_levels)
        Py_RETURN_NONE;
    b.data = b.small;
    b.len = 0;
    b.cap = (Py_ssize_t)sizeof b.small;
    n = PyList_GET_SIZE(side);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *level = PyList_GET_ITEM(side, i);
        if (!PyList_CheckExact(level) || PyList_GET_SIZE(level) != 3)
            goto plain_no;
        for (int k = 0; k < 3; k++) {
            int done;
            if ((i > 0 || k > 0) && append(&b, ",", 1) < 0)
                goto out;
            done = literal(&b, PyList_GET_ITEM(level, k), kinds[k]);
            if (done < 0)
                goto out;
            if (done == 0)
                goto plain_no;
        }
    }
    result = PyUnicode_DecodeASCII(b.data, b.len, NULL);
    goto out;
plain_no:
    result = Py_None;
    Py_INCREF(result);
out:
    if (b.data != b.small)
        PyMem_Free(b.data);
    return result;
}

static PyMethodDef methods[] = {
    {"fields", (PyCFunction)(void (*)(void))fields, METH_FASTCALL,
     "fields(ev, spec) -> str | None: the SQL literals of ev's plain fields, joined by commas; None otherwise."},
    {"levels", (PyCFunction)(void (*)(void))levels, METH_FASTCALL,
     "levels(side, max_levels) -> str | None: a plain depth side's literals, joined by commas; None otherwise."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "writer._rowfmt", "Native SQL literals of event fields (writer.values).", -1, methods,
};

PyMODINIT_FUNC PyInit__rowfmt(void) { return PyModule_Create(&module); }
