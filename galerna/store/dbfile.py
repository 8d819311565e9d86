"""Is the SQLite file the daemon opened still the one at its path? Deleting or replacing the file under a running
daemon leaves its connections writing into an unlinked inode: every later commit would be acknowledged and lost at
the next start. The file's (device, inode) when the daemon opened it is compared with the path's now."""
from __future__ import annotations

import os
from pathlib import Path


class DatabaseFile:
    def __init__(self, path: str):
        self.path = str(Path(path).absolute())
        st = os.stat(self.path)
        self.identity = (st.st_dev, st.st_ino)

    def problem(self) -> str | None:
        """Why the path no longer holds the database the daemon opened (None: it does)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return f"the database file {self.path} was deleted while the daemon ran"
        except OSError as e:
            return f"the database file {self.path} cannot be checked: {e.strerror}"
        if (st.st_dev, st.st_ino) != self.identity:
            return f"the database file {self.path} was replaced by another file while the daemon ran"
        return None
