/* shared._depthpack: the native form of shared.depth_pack.pack (format version 1, described there).
 *
 * pack(bids, asks) -> bytes | None. Bytes are the Python reference's, byte for byte (tests/shared/
 * test_depth_pack_native.py compares them on random books). None means "not the plain case": a side that is
 * not a list or tuple, more than 1000 levels a side, a level that is not a 3-item list or tuple, a price that
 * is not an exact int or float strictly inside +/-1e9 (NaN included), a quantity or order count that is not an
 * exact int in 0..2^32-1. The caller then runs the Python code, which says what is wrong (ValueError) or packs
 * it all the same; this file never has an error message of its own to keep in step.
 *
 * Prices become integer ten-thousandths as Python's round(price * 10000) does: the same IEEE double product,
 * then rounding half to even (nearbyint under the default rounding mode).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define FORMAT_VERSION 1
#define LEVELS_MAX 1000
#define PRICE_MAX 1e9
#define PRICE_MAX_INT 1000000000LL
#define QTY_MAX 0xFFFFFFFFLL

typedef struct {
    int64_t price;    /* ten-thousandths */
    uint32_t qty;
    uint32_t orders;
} level_t;

/* 1 when ``value`` is an exact int in 0..QTY_MAX (stored in *out), 0 otherwise. */
static int u32_of(PyObject *value, uint32_t *out) {
    int overflow = 0;
    long long v;
    if (!PyLong_CheckExact(value))
        return 0;
    v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    if (v < 0 || v > QTY_MAX)
        return 0;
    *out = (uint32_t)v;
    return 1;
}

/* 1 when ``value`` is a usable price (stored in ten-thousandths), 0 otherwise. */
static int price_of(PyObject *value, int64_t *out) {
    if (PyFloat_CheckExact(value)) {
        double d = PyFloat_AS_DOUBLE(value);
        if (!(d > -PRICE_MAX && d < PRICE_MAX))
            return 0;
        *out = (int64_t)nearbyint(d * 10000.0);
        return 1;
    }
    if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
        if (v <= -PRICE_MAX_INT || v >= PRICE_MAX_INT)
            return 0;
        *out = (int64_t)v * 10000;
        return 1;
    }
    return 0;
}

/* The levels of one side into ``out``; 1 when every level is plain, 0 otherwise. */
static int side_of(PyObject *side, level_t *out, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *level = PyList_CheckExact(side) ? PyList_GET_ITEM(side, i) : PyTuple_GET_ITEM(side, i);
        PyObject *p, *q, *o;
        if (PyList_CheckExact(level) && PyList_GET_SIZE(level) == 3) {
            p = PyList_GET_ITEM(level, 0);
            q = PyList_GET_ITEM(level, 1);
            o = PyList_GET_ITEM(level, 2);
        } else if (PyTuple_CheckExact(level) && PyTuple_GET_SIZE(level) == 3) {
            p = PyTuple_GET_ITEM(level, 0);
            q = PyTuple_GET_ITEM(level, 1);
            o = PyTuple_GET_ITEM(level, 2);
        } else {
            return 0;
        }
        if (!price_of(p, &out[i].price) || !u32_of(q, &out[i].qty) || !u32_of(o, &out[i].orders))
            return 0;
    }
    return 1;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static unsigned char *put(unsigned char *w, uint64_t value) {
    while (value > 0x7F) {
        *w++ = (unsigned char)((value & 0x7F) | 0x80);
        value >>= 7;
    }
    *w++ = (unsigned char)value;
    return w;
}

static Py_ssize_t side_len(PyObject *side) {
    if (PyList_CheckExact(side))
        return PyList_GET_SIZE(side);
    if (PyTuple_CheckExact(side))
        return PyTuple_GET_SIZE(side);
    return -1;
}

#define SMALL_LEVELS 64                           /* both sides of a 20-level book fit on the stack */
#define BUF_BYTES(n) (1 + 4 * 10 + (n) * (10 + 5 + 5))  /* version, header, and the widest varints a level */

/* Packs ``n`` checked levels (``nb`` bids first) into ``buf``; returns the bytes object. */
static PyObject *encode(const level_t *levels, Py_ssize_t nb, Py_ssize_t n, unsigned char *buf) {
    unsigned char *w = buf;
    uint64_t price_unit = 0, qty_unit = 0;
    int64_t prev = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t p = levels[i].price;
        price_unit = gcd_u64(price_unit, (uint64_t)(p < 0 ? -p : p));
        qty_unit = gcd_u64(qty_unit, levels[i].qty);
    }
    if (price_unit == 0)
        price_unit = 1;
    if (qty_unit == 0)
        qty_unit = 1;
    *w++ = FORMAT_VERSION;
    w = put(w, (uint64_t)nb);
    w = put(w, (uint64_t)(n - nb));
    w = put(w, price_unit);
    w = put(w, qty_unit);
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t unit = levels[i].price / (int64_t)price_unit;   /* exact: price_unit divides every price */
        int64_t d = unit - prev;
        w = put(w, d >= 0 ? (uint64_t)d * 2 : (uint64_t)(-d) * 2 - 1);
        prev = unit;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        w = put(w, levels[i].qty / qty_unit);
    for (Py_ssize_t i = 0; i < n; i++)
        w = put(w, levels[i].orders);
    return PyBytes_FromStringAndSize((const char *)buf, w - buf);
}

static PyObject *pack(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    level_t small_levels[SMALL_LEVELS];
    unsigned char small_buf[BUF_BYTES(SMALL_LEVELS)];
    level_t *levels = small_levels;
    unsigned char *buf = small_buf;
    PyObject *result = NULL;
    Py_ssize_t nb, na, n;
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "pack(bids, asks)");
        return NULL;
    }
    nb = side_len(args[0]);
    na = side_len(args[1]);
    if (nb < 0 || na < 0 || nb > LEVELS_MAX || na > LEVELS_MAX)
        Py_RETURN_NONE;
    n = nb + na;
    if (n > SMALL_LEVELS) {
        levels = PyMem_Malloc((size_t)n * sizeof(level_t));
        buf = PyMem_Malloc(BUF_BYTES((size_t)n));
        if (levels == NULL || buf == NULL) {
            PyMem_Free(levels);
            PyMem_Free(buf);
            return PyErr_NoMemory();
        }
    }
    if (side_of(args[0], levels, nb) && side_of(args[1], levels + nb, na)) {
        result = encode(levels, nb, n, buf);
    } else {
        result = Py_None;
        Py_INCREF(result);
    }
    if (levels != small_levels) {
        PyMem_Free(levels);
        PyMem_Free(buf);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"pack", (PyCFunction)(void (*)(void))pack, METH_FASTCALL,
     "pack(bids, asks) -> bytes | None: a plain book packed as shared.depth_pack.pack does; None otherwise."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "shared._depthpack", "Native packing of order books (shared.depth_pack).", -1, methods,
};

PyMODINIT_FUNC PyInit__depthpack(void) { return PyModule_Create(&module); }
