def build_run(*, build_id, worker):
    raise NotImplementedError
