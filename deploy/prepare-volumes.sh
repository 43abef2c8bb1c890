#!/bin/sh
# Folder owners and modes for the two roles (docs/separation.md), run once as root before the
# code servers start (the `prepare-volumes` service of docker-compose.yaml), with the linker's CMI_*
# paths in the environment:
# - the identified zone (CMI_IDENTIFIED_DIR), the linkage files under the data folder (the
#   models and the clerical review files, which hold names and dates of birth) and the
#   extracts (landing, quarantine, truth): the linker's alone, mode 700;
# - the analysis zone (CMI_DATA_DIR): group cmi-analysis may write, others nothing; setgid
#   folders keep new files in the group.
set -eu
LINKER="${CMI_LINKER_USER:-linker}"
ANALYSIS_GROUP="${CMI_ANALYSIS_GROUP:-cmi-analysis}"

mkdir -p "$CMI_DATA_DIR"
chgrp -R "$ANALYSIS_GROUP" "$CMI_DATA_DIR"
chmod -R g+rwX,o-rwx "$CMI_DATA_DIR"
find "$CMI_DATA_DIR" -type d -exec chmod g+s {} +

# after the data folder: its linkage folder is one of the linker's own
for folder in "$CMI_IDENTIFIED_DIR" "$CMI_DATA_DIR/linkage" "$CMI_LANDING_DIR" "$CMI_QUARANTINE_DIR" "$CMI_TRUTH_DIR"; do
    mkdir -p "$folder"
    chown -R "$LINKER:$LINKER" "$folder"
    chmod -R go-rwx "$folder"
    chmod 700 "$folder" && chmod g-s "$folder"
done
