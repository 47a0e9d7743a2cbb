"""Raw llama-cpp-python, for benchmarks/local_model.py: one answer per line read on stdin.

    python benchmarks/raw_llama.py MODEL.gguf N_THREADS MAX_TOKENS

Run by whichever interpreter holds the build to measure (the portable one, or a
native build in another virtual environment), so it imports nothing from the app.
Prints `ready`, then for each input line the tokens/s of one streamed answer.
"""

import os
import sys
import time

from llama_cpp import Llama

PROMPT = "Write a short story about a lighthouse keeper."


def main() -> None:
    path, threads, max_tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    llama = Llama(model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=os.cpu_count(), verbose=False)
    print("ready", flush=True)
    for _ in sys.stdin:
        times = []
        for part in llama.create_chat_completion(
            messages=[{"role": "user", "content": PROMPT}], stream=True,
            temperature=0.7, max_tokens=max_tokens, repeat_penalty=1.1, seed=42,
        ):
            if part["choices"][0]["delta"].get("content"):
                times.append(time.perf_counter())
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        print(f"{rate:.3f} {len(times)}", flush=True)


if __name__ == "__main__":
    main()
