"""celoss.display.peak_memory: the peak resident memory of one call, in this process.

Expected sizes are the arrays' own: 16 MiB of float64 ones is 2**21 elements
of 8 bytes. The margins allow a few hundred KiB either way: the interpreter's
own pages above, and below, heap pages that malloc_trim could not give back
(a free chunk's header shares its page) and the next allocation reused.
"""

import numpy as np
import pytest

from celoss.display import peak_memory

MiB = 2**20
SIZE = 16 * MiB  # one test array: (2048, 1024) float64


def ones():
    return np.ones((SIZE // 8 // 1024, 1024))  # (2048, 1024), every page written


def test_peak_memory_counts_an_array_the_call_returns():
    result, extra = peak_memory(ones)
    assert result.nbytes == SIZE
    assert SIZE - MiB < extra < SIZE + MiB


def test_peak_memory_counts_an_array_freed_before_the_call_returns():
    def temporary():
        return float(ones().sum())  # the array is gone when the call returns

    total, extra = peak_memory(temporary)
    assert total == SIZE // 8
    assert SIZE - MiB < extra < SIZE + MiB


def test_peak_memory_counts_two_arrays_alive_together_twice():
    def two():
        first, second = ones(), ones()
        return first.nbytes + second.nbytes

    _, extra = peak_memory(two)
    assert 2 * SIZE - MiB < extra < 2 * SIZE + MiB


def test_peak_memory_forgets_earlier_peaks():
    peak_memory(lambda: float(np.ones((8192, 1024)).sum()))  # 64 MiB, freed
    _, extra = peak_memory(lambda: None)
    assert extra < MiB


def test_peak_memory_counts_memory_reused_from_an_earlier_call():
    # The second call's array fits where the first one's was: still counted.
    peak_memory(lambda: float(ones().sum()))
    _, extra = peak_memory(lambda: float(ones().sum()))
    assert extra > SIZE - MiB


def test_peak_memory_passes_the_result_through_and_raises_what_the_call_raises():
    marker = object()
    assert peak_memory(lambda: marker)[0] is marker
    with pytest.raises(ZeroDivisionError):
        peak_memory(lambda: 1 / 0)


def test_peak_memory_does_not_depend_on_what_ran_before():
    # Freeing large arrays raises glibc's mmap threshold unless peak_memory fixes it;
    # then the same call measures differently after such work.
    def call():
        first = ones()
        second = np.ones(SIZE // 16)  # half the size
        del first
        third = ones()
        return second.nbytes + third.nbytes

    def churn():
        for mib in (30, 16, 8, 24, 2):
            float(np.ones(mib * MiB // 8).sum())

    before = peak_memory(call)[1]
    peak_memory(churn)
    after = peak_memory(call)[1]
    assert abs(before - after) < MiB
    assert 1.5 * SIZE - MiB < before < 1.5 * SIZE + MiB  # two arrays alive at a time
