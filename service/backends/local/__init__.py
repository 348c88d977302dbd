"""The 'local' backend: the model runs in this process with transformers and torch.

``loader`` finds and loads the weights; ``backend`` reads articles with them: a ``walk`` of
``decoder`` decisions per article (values under the span ``constraint``, candidates from
``service.candidates``), requests arriving together run by ``batching`` in one forward pass
per round over a shared ``kv_cache``.
"""
