/* Optional C accelerator for mod_ws.
 *
 * - apply_mask: WebSocket payload masking (RFC 6455 section 5.3). mod_ws.frames falls
 *   back to its pure-Python masking when this module is not built; both give the same
 *   bytes (test/test_frames.py checks them against each other).
 * - send_nowait: one non-blocking send(2) that keeps the GIL. A small frame is copied
 *   into the socket buffer in a few microseconds; releasing and retaking the GIL around
 *   that costs more than the copy when many connection threads are busy, since every
 *   release hands the GIL to another thread. mod_ws.transport sends what is left, if
 *   anything, with the ordinary blocking sendall.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

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

static PyObject *
send_nowait(PyObject *module, PyObject *args)
{
    int fd;
    Py_buffer data;
    ssize_t sent;

    if (!PyArg_ParseTuple(args, "iy*:send_nowait", &fd, &data)) {
        return NULL;
    }
    do {
        sent = send(fd, data.buf, (size_t)data.len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    PyBuffer_Release(&data);
    if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            sent = 0;
        } else {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    return PyLong_FromSsize_t(sent);
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS,
     "apply_mask(payload, key) -> bytes: XOR payload with the repeated 4-byte key."},
    {"send_nowait", send_nowait, METH_VARARGS,
     "send_nowait(fd, data) -> int: bytes sent by one non-blocking send, GIL held."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "mod_ws._speedups",
    "Optional C accelerator for mod_ws (payload masking, small sends).", -1, speedups_methods
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
