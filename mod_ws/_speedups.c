/* Optional C accelerator for mod_ws.
 *
 * - apply_mask: WebSocket payload masking (RFC 6455 section 5.3). mod_ws.protocol.frames falls
 *   back to its pure-Python masking when this module is not built; both give the same
 *   bytes (test/test_frames.py checks them against each other).
 * - take_whole_message and build_unmasked_frame: the per-message work of the commonest
 *   frames (a whole small masked text or binary frame in, an unmasked frame out) in one
 *   call each, where Python needs several calls and intermediate objects. mod_ws.protocol.frames
 *   has the pure-Python versions; test/test_frames.py checks both give the same results.
 * - send_nowait: one non-blocking send(2) that keeps the GIL. A small frame is copied
 *   into the socket buffer in a few microseconds; releasing and retaking the GIL around
 *   that costs more than the copy when many connection threads are busy, since every
 *   release hands the GIL to another thread. mod_ws.server.transport sends what is left, if
 *   anything, with the ordinary blocking sendall.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <limits.h>
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

/* take_whole_message(data, pos, max_size) -> (opcode, value, end) | None
 *
 * A final, masked, uncompressed text (0x81) or binary (0x82) frame with a 7- or 16-bit
 * length, lying whole in data[pos:] and no longer than max_size: returns its opcode, its
 * payload unmasked (str for text, decoded strictly as UTF-8; bytes for binary) and the
 * offset after it. Anything else returns None. Invalid UTF-8 raises UnicodeDecodeError.
 */
static PyObject *
take_whole_message(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t pos, max_size, avail, length, start;
    const unsigned char *buf;
    unsigned char first, second;
    unsigned char *unmasked;
    unsigned char local[512];
    PyObject *value = NULL, *result = NULL;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "take_whole_message(data, pos, max_size)");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    max_size = PyLong_AsSsize_t(args[2]);
    if (max_size == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return NULL;
        }
        PyErr_Clear();
        max_size = PY_SSIZE_T_MAX;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    buf = view.buf;
    avail = view.len - pos;
    if (pos < 0 || avail < 6) {
        goto none;
    }
    first = buf[pos];
    second = buf[pos + 1];
    if ((first != 0x81 && first != 0x82) || second < 0x80) {
        goto none;
    }
    length = second & 0x7F;
    start = pos + 6;
    if (length == 126) {
        if (avail < 8) {
            goto none;
        }
        length = ((Py_ssize_t)buf[pos + 2] << 8) | buf[pos + 3];
        start = pos + 8;
    } else if (length == 127) {
        goto none;
    }
    if (start + length > view.len || length > max_size) {
        goto none;
    }
    if (first == 0x82) {
        value = PyBytes_FromStringAndSize(NULL, length);
        if (value == NULL) {
            goto done;
        }
        xor_with_key(buf + start, (unsigned char *)PyBytes_AS_STRING(value), length,
                     buf + start - 4);
    } else {
        unmasked = length <= (Py_ssize_t)sizeof(local) ? local : PyMem_Malloc(length);
        if (unmasked == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        xor_with_key(buf + start, unmasked, length, buf + start - 4);
        value = PyUnicode_DecodeUTF8((const char *)unmasked, length, "strict");
        if (unmasked != local) {
            PyMem_Free(unmasked);
        }
        if (value == NULL) {
            goto done;
        }
    }
    result = PyTuple_New(3);
    if (result == NULL) {
        Py_DECREF(value);
        goto done;
    }
    PyTuple_SET_ITEM(result, 0, PyLong_FromLong(first & 0x0F));
    PyTuple_SET_ITEM(result, 1, value);
    PyTuple_SET_ITEM(result, 2, PyLong_FromSsize_t(start + length));
    if (PyTuple_GET_ITEM(result, 0) == NULL || PyTuple_GET_ITEM(result, 2) == NULL) {
        Py_CLEAR(result);
    }
    goto done;
none:
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&view);
    return result;
}

/* build_unmasked_frame(opcode, payload, fin=True, rsv1=False) -> bytes
 *
 * One unmasked frame (the server never masks), header and payload in one allocation.
 */
static PyObject *
build_unmasked_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer payload;
    long opcode;
    int fin = 1, rsv1 = 0;
    Py_ssize_t header_length;
    unsigned char header[10];
    unsigned char *out;
    PyObject *result;

    if (nargs < 2 || nargs > 4) {
        PyErr_SetString(PyExc_TypeError,
                        "build_unmasked_frame(opcode, payload, fin=True, rsv1=False)");
        return NULL;
    }
    opcode = PyLong_AsLong(args[0]);
    if (opcode == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (opcode < 0 || opcode > 0x0F) {
        PyErr_SetString(PyExc_ValueError, "opcode out of range");
        return NULL;
    }
    if (nargs > 2 && (fin = PyObject_IsTrue(args[2])) < 0) {
        return NULL;
    }
    if (nargs > 3 && (rsv1 = PyObject_IsTrue(args[3])) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &payload, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    header[0] = (unsigned char)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
    if (payload.len < 126) {
        header[1] = (unsigned char)payload.len;
        header_length = 2;
    } else if (payload.len < 0x10000) {
        header[1] = 126;
        header[2] = (unsigned char)(payload.len >> 8);
        header[3] = (unsigned char)payload.len;
        header_length = 4;
    } else {
        uint64_t length = (uint64_t)payload.len;
        int i;
        header[1] = 127;
        for (i = 0; i < 8; i++) {
            header[2 + i] = (unsigned char)(length >> (56 - 8 * i));
        }
        header_length = 10;
    }
    result = PyBytes_FromStringAndSize(NULL, header_length + payload.len);
    if (result != NULL) {
        out = (unsigned char *)PyBytes_AS_STRING(result);
        memcpy(out, header, header_length);
        memcpy(out + header_length, payload.buf, payload.len);
    }
    PyBuffer_Release(&payload);
    return result;
}

static PyObject *
send_nowait(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long fd;
    Py_buffer data;
    ssize_t sent;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "send_nowait(fd, data)");
        return NULL;
    }
    fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (fd < -1 || fd > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "file descriptor out of range");
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    do {
        sent = send((int)fd, data.buf, (size_t)data.len, MSG_DONTWAIT | MSG_NOSIGNAL);
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
    {"take_whole_message", (PyCFunction)(void (*)(void))take_whole_message, METH_FASTCALL,
     "take_whole_message(data, pos, max_size) -> (opcode, value, end) or None."},
    {"build_unmasked_frame", (PyCFunction)(void (*)(void))build_unmasked_frame, METH_FASTCALL,
     "build_unmasked_frame(opcode, payload, fin=True, rsv1=False) -> bytes."},
    {"send_nowait", (PyCFunction)(void (*)(void))send_nowait, METH_FASTCALL,
     "send_nowait(fd, data) -> int: bytes sent by one non-blocking send, GIL held."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "mod_ws._speedups",
    "Optional C accelerator for mod_ws (masking, whole small messages, small sends).", -1, speedups_methods
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
