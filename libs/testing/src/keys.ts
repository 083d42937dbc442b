/** A fixed key-encryption key for tests of distributed mode (32 bytes, base64url). Never used outside tests. */
export const TEST_KEK = 'uKyIPIg5Jbs6r2Yhn5a2rs0KQyLAUmfCaAkUn0_tF78';
