package prompts

import "time"

// maxNumber is the largest number Number speaks. Queue positions and
// waiting minutes never come near it; a larger value is said as 999 rather
// than read out digit by digit.
const maxNumber = 999

// Number returns the prompt IDs that speak n (0 ≤ n ≤ 999) in the
// catalogue's language, played back to back. n below 0 is spoken as 0 and n
// above 999 as 999: announcements never need more.
//
// Numbers are counts (callers, minutes), so Mandarin uses 两 for a lone or
// leading two (两位, 两分钟, 两百) and 二 elsewhere (二十二); teens are one
// recorded word (十五) and a zero inside a hundred is spoken (一百零五).
// English is spoken without "and" (one hundred five). For example 23 is
// [num_20 num_3] in both languages.
func (c *Catalogue) Number(n int) []ID {
	return numberWords(c.lang, n)
}

// Position returns the full "there are N callers ahead of you" sentence as
// IDs (R10). Nobody ahead is said as "you are first in line" and one
// ahead as its own sentence, since English needs the singular.
func (c *Catalogue) Position(ahead int) []ID {
	switch {
	case ahead <= 0:
		return []ID{QueuePositionFirst}
	case ahead == 1:
		return []ID{QueuePositionOne}
	}
	return sentence(QueuePositionPre, c.Number(ahead), QueuePositionPost)
}

// EstimatedWait returns the full expected-wait sentence as IDs (R10): less
// than a minute below 60 s, otherwise "about M minutes" with M rounded up,
// so the caller is never promised less than the estimate. Exactly one
// minute has its own sentence for the English singular.
func (c *Catalogue) EstimatedWait(d time.Duration) []ID {
	if d < time.Minute {
		return []ID{QueueWaitLessThanMinute}
	}
	m := maxNumber
	if d <= maxNumber*time.Minute {
		m = int((d + time.Minute - 1) / time.Minute)
	}
	if m == 1 {
		return []ID{QueueWaitOneMinute}
	}
	return sentence(QueueWaitPre, c.Number(m), QueueWaitMinutes)
}

func sentence(pre ID, number []ID, post ID) []ID {
	out := make([]ID, 0, len(number)+2)
	out = append(out, pre)
	out = append(out, number...)
	return append(out, post)
}

func numberWords(lang string, n int) []ID {
	n = min(max(n, 0), maxNumber)
	if lang == LanguageZhCN {
		return mandarinNumber(n)
	}
	return englishNumber(n)
}

// mandarinNumber spells 0–999 in Mandarin counting words.
func mandarinNumber(n int) []ID {
	if n == 2 {
		return []ID{numLiang}
	}
	if n < 100 {
		return below100(n)
	}
	var out []ID
	switch h := n / 100; h {
	case 1:
		out = []ID{numID(100)} // 一百, one recorded word
	case 2:
		out = []ID{numLiang, numHundred} // 两百
	default:
		out = []ID{numID(h), numHundred}
	}
	switch r := n % 100; {
	case r == 0:
	case r < 10:
		out = append(out, numID(0), numID(r)) // 一百零五
	case r < 20:
		out = append(out, numID(1)) // 一百一十五: the ten is counted after a hundred
		out = append(out, below100(r)...)
	default:
		out = append(out, below100(r)...)
	}
	return out
}

// below100 spells 0–99, which both languages build the same way: a
// recorded word up to 19 and for each ten, else the ten then the unit. In
// Mandarin the two is 二 here, as it is said after a ten or a hundred.
func below100(n int) []ID {
	if n < 20 || n%10 == 0 {
		return []ID{numID(n)}
	}
	return []ID{numID(n / 10 * 10), numID(n % 10)}
}

// englishNumber spells 0–999 in English.
func englishNumber(n int) []ID {
	if n < 100 {
		return below100(n)
	}
	var out []ID
	if h := n / 100; h == 1 {
		out = []ID{numID(100)}
	} else {
		out = []ID{numID(h), numHundred}
	}
	if r := n % 100; r != 0 {
		out = append(out, below100(r)...)
	}
	return out
}

// HoldPromise returns the hold prompt that carries the promised time
// (R3): 请您稍等一分钟 for a minute or less, else the minutes rounded up.
func (c *Catalogue) HoldPromise(d time.Duration) []ID {
	minutes := int((d + time.Minute - 1) / time.Minute)
	if minutes <= 1 {
		return []ID{HoldPre, HoldOneMinute}
	}
	return append(append([]ID{HoldPre}, c.Number(minutes)...), HoldMinutes)
}
