/* true: does nothing, successfully (for run-to-exit latency). */
int main(void)
{
	return 0;
}
