"""Small plug-in points of the scheduler: admission, preemption, host selection."""
