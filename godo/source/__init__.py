"""Sources of audit records, as bytes in batches for the hot path.

- `session`: the live kernel stream. `AuditSession` takes it (as the audit daemon,
  or read-only on the multicast group), installs godo's rules (`rules`) and puts
  back everything it changed on every exit path; `audit` is the kernel's control
  plane over NETLINK_AUDIT.
- `receive`: the receiver, up to 256 datagrams a call with the GIL released.
- `logfile`: an audit.log, plain or gzip.
- `rawlog`: received frames written as audit.log lines (`record --raw-log`).
"""
