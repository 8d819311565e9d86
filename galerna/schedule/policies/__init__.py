"""Small plug-in points of the scheduler, each chosen once from the configuration:
admission, preemption (who may preempt whom, victims in which order), backfilling
(how many reservations the queue round gives) and host selection."""
