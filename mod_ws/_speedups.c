/* Optional C accelerator for mod_ws: WebSocket payload masking (RFC 6455 section 5.3).
 *
 * mod_ws.frames falls back to its pure-Python masking when this module is not built;
 * both give the same bytes (test/test_frames.py checks them against each other).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Large payloads are masked without the GIL so other connections keep running. */
#define RELEASE_GIL_ABOVE 65536

static void
xor_with_key(const unsigned char *in, unsigned char *out, Py_ssize_t length,
             const unsigned char *key)
{
    uint64_t key64;
    unsigned char repeated[8];
    Py_ssize_t i = 0;

    memcpy(repeated, key, 4);
    memcpy(repeated + 4, key, 4);
    memcpy(&key64, repeated, 8);
    for (; i + 8 <= length; i += 8) {
        uint64_t word;
        memcpy(&word, in + i, 8);
        word ^= key64;
        memcpy(out + i, &word, 8);
    }
    for (; i < length; i++) {
        out[i] = in[i] ^ key[i & 3];
    }
}

static PyObject *
apply_mask(PyObject *module, PyObject *args)
{
    Py_buffer payload, key;
    PyObject *result = NULL;

    if (!PyArg_ParseTuple(args, "y*y*:apply_mask", &payload, &key)) {
        return NULL;
    }
    if (key.len != 4) {
        PyErr_SetString(PyExc_ValueError, "a masking key is 4 bytes");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, payload.len);
    if (result == NULL) {
        goto done;
    }
    if (payload.len > RELEASE_GIL_ABOVE) {
        Py_BEGIN_ALLOW_THREADS
        xor_with_key(payload.buf, (unsigned char *)PyBytes_AS_STRING(result), payload.len,
                     key.buf);
        Py_END_ALLOW_THREADS
    } else {
        xor_with_key(payload.buf, (unsigned char *)PyBytes_AS_STRING(result), payload.len,
                     key.buf);
    }
done:
    PyBuffer_Release(&payload);
    PyBuffer_Release(&key);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS,
     "apply_mask(payload, key) -> bytes: XOR payload with the repeated 4-byte key."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "mod_ws._speedups",
    "Optional C accelerator for mod_ws (payload masking).", -1, speedups_methods
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
