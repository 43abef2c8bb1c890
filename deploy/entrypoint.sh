#!/bin/sh
# Every process of the image starts here. umask 0007: the files and folders a process
# creates are its group's to write and nobody else's to read, so a warehouse file one role
# creates in the shared analysis folder (group cmi-analysis, set by prepare-volumes.sh)
# stays writable by the other.
umask 0007
exec "$@"
