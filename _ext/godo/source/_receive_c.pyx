"""Receive audit datagrams from netlink in batches: the compiled twin of
`godo/source/_receive_py.py`.

One `receive()` is one poll() and one recvmmsg() of up to `slots` datagrams, both
with the GIL released. A batch is one bytes object holding every datagram read,
each as a native u32 size (the length recvmmsg reports: the kernel's own
`nlmsg_len` is not reliable for audit records) followed by the datagram.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.errno cimport EAGAIN, EINTR, ENOBUFS, errno
from libc.stdint cimport uint32_t
from libc.string cimport memcpy, memset, strerror

from godo.vocab.records import MAX_DATAGRAM

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd* fds, unsigned long nfds, int timeout)
    const short POLLIN

cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void* iov_base
        size_t iov_len

cdef extern from "<sys/socket.h>" nogil:
    struct msghdr:
        iovec* msg_iov
        size_t msg_iovlen
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    struct timespec:
        pass
    int recvmmsg(int fd, mmsghdr* msgvec, unsigned int vlen, int flags, timespec* timeout)
    const int MSG_DONTWAIT

cdef extern from "Python.h":
    int PyErr_CheckSignals() except -1

# ENOBUFS clears itself once reported; a few in a row means the queue keeps
# overflowing, and the caller is better served by what it has than by a spin.
cdef int ENOBUFS_RETRIES = 8


cdef class Receiver:
    """Batches of audit datagrams from a netlink socket it does not own."""

    cdef int _fd
    cdef unsigned int _slots
    cdef Py_ssize_t _size
    cdef mmsghdr* _msgs
    cdef iovec* _iov
    cdef char* _data
    cdef public long long calls, datagrams
    # Counted, never raised: a wait cut short by a signal, readable with nothing
    # to read, and ENOBUFS (the kernel dropped datagrams our buffer had no room for).
    cdef public long long interrupted, empty, overruns

    def __cinit__(self, int fd, int slots=64):
        cdef unsigned int i
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self._fd = fd
        self._slots = slots
        self._size = MAX_DATAGRAM
        self._msgs = <mmsghdr*>PyMem_Malloc(slots * sizeof(mmsghdr))
        self._iov = <iovec*>PyMem_Malloc(slots * sizeof(iovec))
        self._data = <char*>PyMem_Malloc(slots * self._size)
        if self._msgs == NULL or self._iov == NULL or self._data == NULL:
            raise MemoryError()
        memset(self._msgs, 0, slots * sizeof(mmsghdr))
        for i in range(self._slots):
            self._iov[i].iov_base = self._data + i * self._size
            self._iov[i].iov_len = self._size
            self._msgs[i].msg_hdr.msg_iov = &self._iov[i]
            self._msgs[i].msg_hdr.msg_iovlen = 1

    def __dealloc__(self):
        PyMem_Free(self._msgs)
        PyMem_Free(self._iov)
        PyMem_Free(self._data)

    def receive(self, int timeout_ms):
        """Wait up to `timeout_ms` for datagrams, then take what is there (up to
        `slots` of them). Returns b"" when nothing came, or when a signal cut the
        wait short (its Python handler has run by then, and may have raised)."""
        cdef pollfd pfd
        cdef int ready, got, err = 0, retries = 0
        cdef int fd = self._fd
        cdef Py_ssize_t total = 0, i
        cdef uint32_t size
        cdef char* out
        if fd < 0:
            raise ValueError("the receiver is detached")
        pfd.fd = fd
        pfd.events = POLLIN
        pfd.revents = 0
        with nogil:
            ready = poll(&pfd, 1, timeout_ms)
            if ready < 0:
                err = errno
        if ready < 0:
            if err != EINTR:
                raise OSError(err, strerror(err).decode())
            self.interrupted += 1
            PyErr_CheckSignals()
            return b""
        if ready == 0:
            return b""
        self.calls += 1
        while True:
            with nogil:
                got = recvmmsg(fd, self._msgs, self._slots, MSG_DONTWAIT, NULL)
                if got < 0:
                    err = errno
            if got >= 0:
                break
            if err == ENOBUFS and retries < ENOBUFS_RETRIES:
                self.overruns += 1
                retries += 1
                continue
            if err == ENOBUFS:
                self.overruns += 1
            elif err == EAGAIN:  # EWOULDBLOCK is EAGAIN on Linux
                self.empty += 1
            elif err == EINTR:
                self.interrupted += 1
                PyErr_CheckSignals()
            else:
                raise OSError(err, strerror(err).decode())
            return b""
        for i in range(got):
            total += 4 + self._msgs[i].msg_len
        batch = PyBytes_FromStringAndSize(NULL, total)
        out = PyBytes_AS_STRING(batch)
        for i in range(got):
            size = self._msgs[i].msg_len
            memcpy(out, &size, 4)
            memcpy(out + 4, self._iov[i].iov_base, size)
            out += 4 + size
        self.datagrams += got
        return batch

    def detach(self):
        """Let go of the socket without closing it: its owner closes it."""
        self._fd = -1
