"""``drive.mount`` as in Colab, with the student's Drive simulated.

Mounting makes ``<mountpoint>/MyDrive`` and copies into it the folder named by the environment
variable ``FAKE_DRIVE_CONTENT``: the files the student uploaded to their Drive.
"""
import os
import shutil

mounted = []


def mount(mountpoint, force_remount=False, timeout_ms=120000, readonly=False):
    if os.path.isdir(os.path.join(mountpoint, "MyDrive")) and not force_remount:
        # Colab only prints a notice here; failing makes a second mount visible to the test.
        raise RuntimeError(f"{mountpoint} is already mounted")
    shutil.copytree(os.environ["FAKE_DRIVE_CONTENT"], os.path.join(mountpoint, "MyDrive"))
    mounted.append(mountpoint)
