"""oned's request error codes (`include/Request.h`) and the error a request handler raises."""
from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    SUCCESS = 0x0000
    AUTHENTICATION = 0x0100
    AUTHORIZATION = 0x0200
    NO_EXISTS = 0x0400
    ACTION = 0x0800
    RPC_API = 0x1000
    INTERNAL = 0x2000
    ALLOCATE = 0x4000
    LOCKED = 0x8000
    REPLICATION = 0x10000


# RequestLogger::object_name, used in "Error getting <object> [id]." and "... does not fit in host [..]".
OBJECT_NAMES = {
    "VM": "virtual machine",
    "HOST": "host",
    "DATASTORE": "datastore",
    "TEMPLATE": "virtual machine template",
    "CLUSTER": "cluster",
    "USER": "user",
}


class OnedError(Exception):
    """A failed request: the code and the message body that `Request::failure_message` wraps in "[method] ..."."""

    def __init__(self, code: ErrorCode, message: str = "", resp_id: int = -1, obj: str = "VM", uid: int = -1):
        super().__init__(message)
        self.code = code
        self.message = message
        self.resp_id = resp_id
        self.obj = obj
        self.uid = uid

    def render(self, method: str) -> str:
        """The whole message as `Request::failure_message` (`src/rm/Request.cc`) builds it."""
        name = OBJECT_NAMES.get(self.obj, self.obj.lower())
        if self.code == ErrorCode.AUTHENTICATION:
            body = "User couldn't be authenticated, aborting call."
        elif self.code == ErrorCode.NO_EXISTS:
            body = f"Error getting {name}" + (f" [{self.resp_id}]." if self.resp_id != -1 else " Pool.")
        elif self.code == ErrorCode.ALLOCATE:
            body = f"Error allocating a new {name}." + (f" {self.message}" if self.message else "")
        elif self.code == ErrorCode.AUTHORIZATION:
            body = f"User [{self.uid}] " + (f": {self.message}." if self.message
                                                 else f"not authorized to perform action on {name}.")
        else:
            body = self.message
        return f"[{method}] {body}"


def no_such(obj: str, oid: int) -> OnedError:
    return OnedError(ErrorCode.NO_EXISTS, resp_id=oid, obj=obj)


def action_error(message: str) -> OnedError:
    return OnedError(ErrorCode.ACTION, message)
